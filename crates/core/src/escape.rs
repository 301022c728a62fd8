//! Names from disk, made safe to print. A file name may hold any byte but
//! `/` and NUL: a newline that forges a second message, an ESC that starts a
//! terminal escape sequence, bytes that are not UTF-8. Every name read from
//! disk (or from a user's file) goes through [`shown`], [`shown_bytes`] or
//! [`shown_path`] before it reaches a message, so printing it can never
//! move the cursor, recolour the terminal or split a line.
//!
//! The escapes are unambiguous: `\\` is a backslash, `\n`, `\r` and `\t`
//! are those characters, `\xNN` is the byte `NN` (an ASCII control
//! character, or a byte that is not part of valid UTF-8), and `\u{NNNN}` is
//! the Unicode character `U+NNNN` (a C1 control such as `\u{9b}`, the
//! one-character CSI, or a bidirectional override that would reorder the
//! rest of the line). Everything else, including ordinary non-ASCII text,
//! is shown as it is, and a name with nothing to escape is not copied.

use std::borrow::Cow;
use std::fmt::Write;
use std::path::Path;

/// `name` with control characters, bidirectional overrides and `\`
/// escaped (see the module documentation); borrowed when nothing needs it.
pub fn shown(name: &str) -> Cow<'_, str> {
    if !name.chars().any(needs_escape) {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 8);
    push_escaped(&mut out, name);
    Cow::Owned(out)
}

/// Bytes that should be text (a file name on Unix): valid UTF-8 as
/// [`shown`] shows it, every other byte as `\xNN`.
pub fn shown_bytes(bytes: &[u8]) -> Cow<'_, str> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return shown(text);
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        push_escaped(&mut out, chunk.valid());
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    Cow::Owned(out)
}

/// A path as [`shown_bytes`] shows its bytes: unlike `Path::display`,
/// which passes control characters through and turns invalid UTF-8 into
/// `�` (so two different names could look alike).
pub fn shown_path(path: &Path) -> Cow<'_, str> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        shown_bytes(path.as_os_str().as_bytes())
    }
    #[cfg(not(unix))]
    {
        match path.to_string_lossy() {
            Cow::Borrowed(text) => shown(text),
            Cow::Owned(text) => Cow::Owned(shown(&text).into_owned()),
        }
    }
}

/// Whether `c` is shown escaped: control characters (C0, DEL, C1), the
/// bidirectional embedding, override and isolate controls, and `\` itself.
fn needs_escape(c: char) -> bool {
    c.is_control() || c == '\\' || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_ascii_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_are_borrowed_unchanged() {
        for name in ["file1", "sub/dir/a b.bin", "données été", "日本語", ""] {
            assert!(
                matches!(shown(name), Cow::Borrowed(n) if n == name),
                "{name}"
            );
            assert!(matches!(shown_bytes(name.as_bytes()), Cow::Borrowed(n) if n == name));
        }
    }

    #[test]
    fn controls_and_backslashes_are_escaped() {
        assert_eq!(shown("a\nb"), "a\\nb");
        assert_eq!(shown("\r\t"), "\\r\\t");
        assert_eq!(shown("\u{1b}[31mred"), "\\x1b[31mred");
        assert_eq!(shown("\0\u{7f}"), "\\x00\\x7f");
        assert_eq!(shown("csi\u{9b}2J"), "csi\\u{9b}2J");
        assert_eq!(
            shown("a\\x1b"),
            "a\\\\x1b",
            "a literal backslash stays distinct"
        );
        assert_eq!(shown("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
    }

    #[test]
    fn invalid_utf8_is_shown_as_bytes() {
        assert_eq!(shown_bytes(b"a\xffb"), "a\\xffb");
        assert_eq!(shown_bytes(b"\xc3"), "\\xc3", "a cut sequence");
        assert_eq!(shown_bytes(b"\xff\n\xc3\xa9"), "\\xff\\né");
        // A C1 character (valid UTF-8) and the byte 0x9b look different.
        assert_ne!(shown_bytes("\u{9b}".as_bytes()), shown_bytes(b"\x9b"));
    }

    #[test]
    fn paths_are_escaped_byte_for_byte() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let path = Path::new(OsStr::from_bytes(b"/tmp/x\x1b]0;owned\x07\n\xfe"));
        let shown = shown_path(path);
        assert_eq!(shown, "/tmp/x\\x1b]0;owned\\x07\\n\\xfe");
        assert!(!shown.bytes().any(|b| b.is_ascii_control()));
        assert!(matches!(shown_path(Path::new("/tmp/ok")), Cow::Borrowed(_)));
    }

    proptest::proptest! {
        /// Whatever the bytes, the shown text has no control character and
        /// no bidirectional control, so it cannot drive a terminal.
        #[test]
        fn shown_text_is_inert(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let text = shown_bytes(&bytes);
            proptest::prop_assert!(!text.chars().any(|c| c.is_control()));
            proptest::prop_assert!(!text.chars().any(|c| c != '\\' && needs_escape(c)));
        }
    }
}
