//! A set of a file's segments, as bits: what one rank holds.

use crate::SegmentIdx;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SegmentSet {
    words: Vec<u64>,
    len: usize,
}

impl SegmentSet {
    /// A set of segments `0..len`: all of them, or none.
    pub fn new(len: usize, full: bool) -> Self {
        let mut words = vec![if full { u64::MAX } else { 0 }; len.div_ceil(64)];
        if full && !len.is_multiple_of(64) {
            if let Some(last) = words.last_mut() {
                *last = (1 << (len % 64)) - 1;
            }
        }
        SegmentSet { words, len }
    }

    pub fn contains(&self, index: SegmentIdx) -> bool {
        let index = index as usize;
        index < self.len && self.words[index / 64] & (1 << (index % 64)) != 0
    }

    /// Adds `index`; false if it was there already.
    pub fn insert(&mut self, index: SegmentIdx) -> bool {
        let index = index as usize;
        let (word, bit) = (index / 64, 1 << (index % 64));
        let new = self.words[word] & bit == 0;
        self.words[word] |= bit;
        new
    }

    /// Takes `index` out.
    pub fn remove(&mut self, index: SegmentIdx) {
        let index = index as usize;
        self.words[index / 64] &= !(1 << (index % 64));
    }

    /// Starts loading into the cache (see [`crate::prefetch`]) the first
    /// few lines of the set.
    #[cfg(feature = "sim-speed")]
    pub fn prefetch(&self) {
        crate::prefetch::lines(&self.words[..], 3);
    }

    /// The segments in the set, in order.
    pub fn iter(&self) -> impl Iterator<Item = SegmentIdx> + '_ {
        self.difference(&[], 0)
    }

    /// The segments in this set and in none of `others`, starting at the
    /// word of segment `from` and going round (so that callers starting at
    /// different places see different segments first). The others are
    /// taken out a word at a time, so that a caller that would skip what
    /// they hold one segment at a time need not.
    pub fn difference<'a>(&'a self, others: &'a [&'a SegmentSet], from: usize) -> Difference<'a> {
        let words = self.words.len();
        let first = if words == 0 { 0 } else { (from / 64) % words };
        Difference {
            set: self,
            others,
            first,
            step: 0,
            word: 0,
            bits: 0,
        }
    }

    /// Word `word` of the set without what `others` hold.
    fn word_without(&self, others: &[&SegmentSet], word: usize) -> u64 {
        let taken = others.iter().fold(0, |taken, other| {
            taken | other.words.get(word).copied().unwrap_or(0)
        });
        self.words[word] & !taken
    }
}

/// The iterator of [`SegmentSet::difference`]: a plain loop over the words
/// (the hint policies run one per holder drawn, millions of times at
/// 10,000 peers).
pub(crate) struct Difference<'a> {
    set: &'a SegmentSet,
    others: &'a [&'a SegmentSet],
    /// The word it began at, the words done, and the bits left of the
    /// current word (`word`).
    first: usize,
    step: usize,
    word: usize,
    bits: u64,
}

impl Iterator for Difference<'_> {
    type Item = SegmentIdx;

    fn next(&mut self) -> Option<SegmentIdx> {
        let words = self.set.words.len();
        while self.bits == 0 {
            if self.step == words {
                return None;
            }
            self.word = (self.first + self.step) % words;
            self.step += 1;
            self.bits = self.set.word_without(self.others, self.word);
        }
        let bit = self.bits.trailing_zeros();
        self.bits &= self.bits - 1;
        Some((self.word * 64) as SegmentIdx + bit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_and_empty_sets() {
        let full = SegmentSet::new(70, true);
        assert_eq!(full.iter().count(), 70);
        assert!(full.contains(69) && !full.contains(70));
        let empty = SegmentSet::new(70, false);
        assert_eq!(empty.iter().count(), 0);
        assert_eq!(SegmentSet::new(0, true).iter().count(), 0);
    }

    #[test]
    fn difference_goes_round_from_a_word() {
        let mut a = SegmentSet::new(200, false);
        let mut b = SegmentSet::new(200, false);
        for i in [1, 5, 70, 130, 199] {
            assert!(a.insert(i));
        }
        assert!(!a.insert(5));
        b.insert(5);
        let all: Vec<u32> = a.difference(&[&b], 0).collect();
        assert_eq!(all, vec![1, 70, 130, 199]);
        let from_third: Vec<u32> = a.difference(&[&b], 150).collect();
        assert_eq!(from_third, vec![130, 199, 1, 70]);
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![1, 5, 70, 130, 199]);
        // Two sets taken out at once; a removed segment is out too.
        let mut c = SegmentSet::new(200, false);
        c.insert(130);
        c.insert(199);
        c.remove(199);
        let both: Vec<u32> = a.difference(&[&b, &c], 0).collect();
        assert_eq!(both, vec![1, 70, 199]);
    }
}
