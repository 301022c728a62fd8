//! The classic text formats: a peer's `in<R>.txt` and the `client<R>_<file>`
//! outputs. Parsing works on `&str` and rendering returns `String`, so this
//! module never touches the filesystem.
//!
//! Input: whitespace-separated tokens, in order: the number of owned files;
//! for each, `<name> <segment count>` and that many segment hashes; then the
//! number of wanted files and that many names. A hash is an opaque token.

use crate::escape::shown;
use std::collections::HashSet;
use std::fmt;

/// One file a peer owns from the start: its name and its segment hashes in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedFile {
    pub name: String,
    pub hashes: Vec<String>,
}

/// Everything one `in<R>.txt` says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerInput {
    pub owned: Vec<OwnedFile>,
    pub wanted: Vec<String>,
}

/// A problem in an input file, with the 1-based line it was found on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

/// The name of the output file a peer writes for a wanted file.
pub fn output_file_name(rank: crate::Rank, file: &str) -> String {
    format!("client{rank}_{file}")
}

/// The name of a peer's input file.
pub fn input_file_name(rank: crate::Rank) -> String {
    format!("in{rank}.txt")
}

/// Renders a completed file: its hashes in segment order, one per line.
pub fn render_output<S: AsRef<str>>(hashes: &[S]) -> String {
    let mut out = String::with_capacity(hashes.iter().map(|h| h.as_ref().len() + 1).sum());
    for hash in hashes {
        out.push_str(hash.as_ref());
        out.push('\n');
    }
    out
}

/// Renders a peer's input in the classic layout (the inverse of [`parse_peer_input`]).
pub fn render_input(input: &PeerInput) -> String {
    let mut out = format!("{}\n", input.owned.len());
    for file in &input.owned {
        out.push_str(&format!("{} {}\n", file.name, file.hashes.len()));
        out.push_str(&render_output(&file.hashes));
    }
    out.push_str(&format!("{}\n", input.wanted.len()));
    out.push_str(&render_output(&input.wanted));
    out
}

/// Why a file name cannot be used, or `None` if it is safe to write as
/// `client<R>_<name>` inside the output folder.
pub fn file_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("a file name is empty")
    } else if name == "." || name == ".." {
        Some("a file name may not be '.' or '..'")
    } else if name.contains(['/', '\\']) {
        Some("a file name may not contain '/' or '\\' (it would write outside the output folder)")
    } else if name.chars().any(char::is_control) {
        Some("a file name may not contain control characters")
    } else {
        None
    }
}

/// Parses the text of one `in<R>.txt`.
pub fn parse_peer_input(text: &str) -> Result<PeerInput, ParseError> {
    let mut tokens = Tokens::new(text);
    if tokens.peek_line().is_none() {
        return Err(ParseError {
            line: 1,
            message: "the input is empty: expected the number of owned files".into(),
        });
    }
    let owned_count = tokens.count("the number of owned files")?;
    let mut owned = Vec::with_capacity(owned_count.min(1 << 12));
    let mut seen = HashSet::new();
    for _ in 0..owned_count {
        let (line, name) = tokens.name("an owned file's name")?;
        if !seen.insert(name.to_string()) {
            return Err(ParseError {
                line,
                message: format!(
                    "file '{}' is listed twice among the owned files",
                    Shown(name)
                ),
            });
        }
        let segments = tokens.count(&format!("the segment count of '{}'", Shown(name)))?;
        let mut hashes = Vec::with_capacity(segments.min(1 << 16));
        for index in 0..segments {
            let what = format!("segment {} of {} of '{}'", index + 1, segments, Shown(name));
            let (line, hash) = tokens.next(&what)?;
            // Hashes are opaque, but they are printed (a registration
            // conflict quotes them) and written into outputs.
            if hash.chars().any(char::is_control) {
                return Err(ParseError {
                    line,
                    message: format!(
                        "{what} may not contain control characters: '{}'",
                        Shown(hash)
                    ),
                });
            }
            hashes.push(hash.to_string());
        }
        owned.push(OwnedFile {
            name: name.to_string(),
            hashes,
        });
    }
    let wanted_count = tokens.count("the number of wanted files")?;
    let mut wanted = Vec::with_capacity(wanted_count.min(1 << 12));
    let mut seen_wanted = HashSet::new();
    for _ in 0..wanted_count {
        let (line, name) = tokens.name("a wanted file's name")?;
        if !seen_wanted.insert(name) {
            return Err(ParseError {
                line,
                message: format!(
                    "file '{}' is listed twice among the wanted files",
                    Shown(name)
                ),
            });
        }
        wanted.push(name.to_string());
    }
    if let Some((line, extra)) = tokens.next_token() {
        return Err(ParseError {
            line,
            message: format!(
                "unexpected '{}' after the {wanted_count} wanted file(s)",
                Shown(extra)
            ),
        });
    }
    Ok(PeerInput { owned, wanted })
}

/// Whitespace tokens with the line each starts on.
struct Tokens<'a> {
    lines: std::iter::Enumerate<std::str::Lines<'a>>,
    current: Option<(usize, std::str::SplitWhitespace<'a>)>,
    pending: Option<(usize, &'a str)>,
    last_line: usize,
}

impl<'a> Tokens<'a> {
    fn new(text: &'a str) -> Self {
        Tokens {
            lines: text.lines().enumerate(),
            current: None,
            pending: None,
            last_line: 1,
        }
    }

    fn next_token(&mut self) -> Option<(usize, &'a str)> {
        if let Some(token) = self.pending.take() {
            return Some(token);
        }
        loop {
            if let Some((line, words)) = &mut self.current {
                if let Some(word) = words.next() {
                    self.last_line = *line;
                    return Some((*line, word));
                }
            }
            let (index, text) = self.lines.next()?;
            self.current = Some((index + 1, text.split_whitespace()));
        }
    }

    fn peek_line(&mut self) -> Option<usize> {
        if self.pending.is_none() {
            self.pending = self.next_token();
        }
        self.pending.map(|(line, _)| line)
    }

    /// The next token, or an error naming what was expected at the end of input.
    fn next(&mut self, what: &str) -> Result<(usize, &'a str), ParseError> {
        self.next_token().ok_or_else(|| ParseError {
            line: self.last_line,
            message: format!("the input ends where {what} was expected"),
        })
    }

    fn count(&mut self, what: &str) -> Result<usize, ParseError> {
        let (line, token) = self.next(what)?;
        token.parse::<usize>().map_err(|_| ParseError {
            line,
            message: format!(
                "expected {what} (a non-negative integer), found '{}'",
                Shown(token)
            ),
        })
    }

    fn name(&mut self, what: &str) -> Result<(usize, &'a str), ParseError> {
        let (line, name) = self.next(what)?;
        match file_name_problem(name) {
            Some(problem) => Err(ParseError {
                line,
                message: format!("{problem}: '{}'", Shown(name)),
            }),
            None => Ok((line, name)),
        }
    }
}

/// A token as shown in an error: escaped (see [`crate::escape`]), and cut
/// after 64 characters.
struct Shown<'a>(&'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX: usize = 64;
        match self.0.char_indices().nth(MAX) {
            Some((cut, _)) => write!(f, "{}...", shown(&self.0[..cut])),
            None => f.write_str(&shown(self.0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> ParseError {
        parse_peer_input(text).unwrap_err()
    }

    #[test]
    fn parses_the_classic_layout() {
        let text = "2\nfile1 2\naa\nbb\nfile2 1\ncc\n1\nfile3";
        let input = parse_peer_input(text).unwrap();
        assert_eq!(input.owned.len(), 2);
        assert_eq!(input.owned[0].name, "file1");
        assert_eq!(input.owned[0].hashes, vec!["aa", "bb"]);
        assert_eq!(input.owned[1].hashes, vec!["cc"]);
        assert_eq!(input.wanted, vec!["file3"]);
    }

    #[test]
    fn render_and_parse_round_trip() {
        let input = PeerInput {
            owned: vec![OwnedFile {
                name: "f".into(),
                hashes: vec!["h1".into(), "h2".into()],
            }],
            wanted: vec!["g".into(), "h".into()],
        };
        assert_eq!(parse_peer_input(&render_input(&input)).unwrap(), input);
    }

    #[test]
    fn zero_counts_and_trailing_newlines_are_fine() {
        assert_eq!(parse_peer_input("0\n0\n").unwrap(), PeerInput::default());
        assert_eq!(parse_peer_input("0 0").unwrap(), PeerInput::default());
        let input = parse_peer_input("1\nempty 0\n0").unwrap();
        assert!(input.owned[0].hashes.is_empty());
    }

    #[test]
    fn empty_input_is_an_error() {
        assert_eq!(err("").line, 1);
        assert!(err("  \n\n").message.contains("empty"));
    }

    #[test]
    fn bad_counts_name_the_line() {
        let e = err("1\nfile1 x\n");
        assert_eq!(e.line, 2);
        assert!(e.message.contains("segment count of 'file1'"), "{e}");
        assert!(err("-1\n0").message.contains("non-negative"));
        let e = err("0\nabc\n");
        assert!(e.message.contains("number of wanted files"), "{e}");
    }

    #[test]
    fn missing_tokens_name_what_was_expected() {
        let e = err("1\nfile1 3\naa\nbb\n");
        assert_eq!(e.line, 4);
        assert!(e.message.contains("segment 3 of 3 of 'file1'"), "{e}");
        assert!(err("0\n2\nx\n").message.contains("wanted file's name"));
        assert!(err("1\nfile1").message.contains("segment count"));
    }

    #[test]
    fn leftover_tokens_are_an_error() {
        let e = err("0\n1\nx\ny\n");
        assert_eq!(e.line, 4);
        assert!(e.message.contains("unexpected 'y'"), "{e}");
    }

    #[test]
    fn duplicate_files_are_an_error() {
        let e = err("2\nf 1\na\nf 1\na\n0\n");
        assert_eq!(e.line, 4);
        assert!(e.message.contains("twice"), "{e}");
        assert!(err("0\n2\ng\ng\n").message.contains("twice"));
    }

    #[test]
    fn unsafe_names_are_rejected() {
        for name in ["..", ".", "a/b", "/etc/passwd", "../x", "a\\b", "a\u{1}b"] {
            let text = format!("0\n1\n{name}\n");
            assert!(parse_peer_input(&text).is_err(), "{name:?} was accepted");
        }
        let e = err("1\n../x 0\n0\n");
        assert!(e.message.contains("outside"), "{e}");
    }

    #[test]
    fn quoted_tokens_are_escaped_and_control_characters_refused() {
        let e = err("\u{1b}[2J\n0\n");
        assert!(e.message.contains("found '\\x1b[2J'"), "{e}");
        let e = err("1\nf 1\nab\u{1b}]0;x\u{7}\n0\n");
        assert_eq!(e.line, 3);
        assert!(
            e.message
                .contains("segment 1 of 1 of 'f' may not contain control"),
            "{e}"
        );
        assert!(e.message.contains("'ab\\x1b]0;x\\x07'"), "{e}");
        let e = err(&format!("{}\n0\n", "x".repeat(100)));
        assert!(
            e.message.contains(&format!("'{}...'", "x".repeat(64))),
            "{e}"
        );
        for e in [e, err("0\n1\nname\u{9b}31m\n")] {
            assert!(!e.to_string().chars().any(char::is_control), "{e}");
        }
    }

    #[test]
    fn renders_outputs_one_hash_per_line() {
        assert_eq!(render_output(&["a", "b"]), "a\nb\n");
        assert_eq!(render_output::<&str>(&[]), "");
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_arbitrary_text(text in ".{0,200}") {
            let _ = parse_peer_input(&text);
        }

        /// Token streams close to valid inputs reach the deeper error paths;
        /// whatever parses renders back to the same input.
        #[test]
        fn near_valid_inputs_parse_or_fail_cleanly(
            tokens in proptest::collection::vec(
                proptest::prop_oneof!["[0-3]", "f[0-2]", "[a-f0-9]{32}", "\\.\\.", "-1", "x/y"],
                0..40,
            ),
            newline_every in 1usize..4,
        ) {
            let text: String = tokens
                .iter()
                .enumerate()
                .map(|(i, t)| if i % newline_every == 0 { format!("\n{t}") } else { format!(" {t}") })
                .collect();
            if let Ok(input) = parse_peer_input(&text) {
                proptest::prop_assert_eq!(parse_peer_input(&render_input(&input)).unwrap(), input);
            }
        }
    }
}
