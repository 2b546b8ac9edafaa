//! pppd's word tokenizer (`getword()` in pppd/options.c), shared by the options file and
//! chap-secrets parsers. It never allocates: words are decoded into a caller buffer, so the
//! chap-secrets lookup can run inside the poll loop.
//!
//! Rules, as pppd applies them:
//! - whitespace separates words; `#` starts a comment to the end of the line where a word could
//!   begin, and also ends an unquoted word (`pa#ss` is the word `pa`);
//! - `"` and `'` quote a section (mid-word too: `ab"c d"e` is `abc de`); inside, whitespace,
//!   `#` and newlines are literal;
//! - backslash escapes work inside and outside quotes: `\a \b \f \n \r \t \s`, `\ooo` (1-3
//!   octal digits), `\xHH` (1-2 hex digits), backslash-newline is ignored, anything else
//!   stands for itself;
//! - words are at most [`MAX_WORD_LEN`]` - 1` bytes; a NUL (from `\0`) ends the word, as it
//!   ends the C string in pppd;
//! - `""` is an empty word, except right at the end of the file, where pppd loses it.

/// pppd's MAXWORDLEN: a word keeps at most `MAX_WORD_LEN - 1` bytes.
pub const MAX_WORD_LEN: usize = 1024;

/// One word, decoded into the caller's buffer (`&buf[..len]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Word {
    pub len: usize,
    /// A newline came between the previous word and this one: the word starts a line, which
    /// is what starts a record in chap-secrets.
    pub newline: bool,
    /// Line number (1-based) of the word's first character.
    pub line: u32,
    /// The word was longer than pppd keeps and was cut (pppd warns "word ... too long").
    pub truncated: bool,
    /// A quoted section ran to the end of the file.
    pub unterminated_quote: bool,
}

/// A cursor over a whole file's bytes.
pub struct Words<'a> {
    text: &'a [u8],
    pos: usize,
    line: u32,
}

/// C `isspace` in the C locale.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn push(out: &mut [u8; MAX_WORD_LEN], len: &mut usize, truncated: &mut bool, b: u8) {
    if *len < MAX_WORD_LEN {
        out[*len] = b;
        *len += 1;
    } else {
        *truncated = true;
    }
}

impl<'a> Words<'a> {
    pub fn new(text: &'a [u8]) -> Words<'a> {
        Words {
            text,
            pos: 0,
            line: 1,
        }
    }

    /// Line number of the read position (1-based).
    pub fn line(&self) -> u32 {
        self.line
    }

    fn getc(&mut self) -> Option<u8> {
        let c = *self.text.get(self.pos)?;
        self.pos += 1;
        if c == b'\n' {
            self.line = self.line.saturating_add(1);
        }
        Some(c)
    }

    /// Puts back the character `getc` just returned.
    fn ungetc(&mut self) {
        self.pos = self.pos.saturating_sub(1);
        if self.text.get(self.pos) == Some(&b'\n') {
            self.line = self.line.saturating_sub(1);
        }
    }

    /// Decodes the next word into `out`; `None` at the end of the file.
    pub fn next_word(&mut self, out: &mut [u8; MAX_WORD_LEN]) -> Option<Word> {
        let mut newline = false;
        let mut escape = false;
        let mut comment = false;

        // Skip whitespace and comments.
        let mut c;
        loop {
            c = self.getc();
            let Some(ch) = c else { break };
            if ch == b'\n' {
                // A newline ends a comment; backslash-newline is ignored.
                if escape {
                    escape = false;
                } else {
                    newline = true;
                    comment = false;
                }
                continue;
            }
            if comment {
                continue;
            }
            if escape {
                break;
            }
            if ch == b'\\' {
                escape = true;
                continue;
            }
            if ch == b'#' {
                comment = true;
                continue;
            }
            if !is_space(ch) {
                break;
            }
        }
        let line = self.line;

        let mut len = 0usize;
        let mut truncated = false;
        let mut quoted: Option<u8> = None;
        while let Some(ch) = c {
            // The byte to store, and whether the character after it was already read.
            let (value, got) = if escape {
                escape = false;
                if ch == b'\n' {
                    c = self.getc();
                    continue;
                }
                // `got`: the escape already read the character after itself.
                match ch {
                    b'a' => (0x07, false),
                    b'b' => (0x08, false),
                    b'f' => (0x0c, false),
                    b'n' => (b'\n', false),
                    b'r' => (b'\r', false),
                    b's' => (b' ', false),
                    b't' => (b'\t', false),
                    b'0'..=b'7' => {
                        let mut value: u32 = 0;
                        let mut next = Some(ch);
                        for _ in 0..3 {
                            match next {
                                Some(d @ b'0'..=b'7') => {
                                    value = (value << 3) + u32::from(d - b'0');
                                    next = self.getc();
                                }
                                _ => break,
                            }
                        }
                        c = next;
                        // Stored into a C char: keeps the low 8 bits.
                        (value as u8, true)
                    }
                    b'x' => {
                        let mut value: u32 = 0;
                        let mut next = self.getc();
                        for _ in 0..2 {
                            match next.and_then(|d| (d as char).to_digit(16)) {
                                Some(digit) => {
                                    value = (value << 4) + digit;
                                    next = self.getc();
                                }
                                None => break,
                            }
                        }
                        c = next;
                        (value as u8, true)
                    }
                    other => (other, false),
                }
            } else {
                if ch == b'\\' {
                    escape = true;
                    c = self.getc();
                    continue;
                }
                if let Some(q) = quoted {
                    if ch == q {
                        quoted = None;
                        c = self.getc();
                        continue;
                    }
                } else if ch == b'"' || ch == b'\'' {
                    quoted = Some(ch);
                    c = self.getc();
                    continue;
                } else if is_space(ch) || ch == b'#' {
                    self.ungetc();
                    break;
                }
                (ch, false)
            };
            // One store for both (a byte past what pppd keeps marks the word cut).
            push(out, &mut len, &mut truncated, value);
            if !got {
                c = self.getc();
            }
        }

        if c.is_none() && len == 0 {
            return None;
        }
        if len >= MAX_WORD_LEN {
            len = MAX_WORD_LEN - 1;
            truncated = true;
        }
        // pppd handles words as C strings: an escaped NUL ends the word.
        if let Some(nul) = out[..len].iter().position(|&b| b == 0) {
            len = nul;
        }
        Some(Word {
            len,
            newline,
            line,
            truncated,
            unterminated_quote: c.is_none() && quoted.is_some(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::{Random, XorShift};

    /// All words of `text` as (bytes, newline flag, line).
    fn words(text: &[u8]) -> Vec<(Vec<u8>, bool, u32)> {
        let mut w = Words::new(text);
        let mut buf = [0u8; MAX_WORD_LEN];
        let mut out = Vec::new();
        while let Some(word) = w.next_word(&mut buf) {
            out.push((buf[..word.len].to_vec(), word.newline, word.line));
        }
        out
    }

    fn plain(text: &[u8]) -> Vec<Vec<u8>> {
        words(text).into_iter().map(|(w, _, _)| w).collect()
    }

    #[test]
    fn splits_on_whitespace_and_tracks_lines() {
        let got = words(b"alice\t pptpd  secret *\nbob * 'x'\n");
        assert_eq!(
            got,
            vec![
                (b"alice".to_vec(), false, 1),
                (b"pptpd".to_vec(), false, 1),
                (b"secret".to_vec(), false, 1),
                (b"*".to_vec(), false, 1),
                (b"bob".to_vec(), true, 2),
                (b"*".to_vec(), false, 2),
                (b"x".to_vec(), false, 2),
            ]
        );
    }

    #[test]
    fn comments_anywhere_a_word_ends() {
        assert_eq!(
            plain(b"# whole line\na b # rest\nc"),
            vec![b"a", b"b", b"c"]
        );
        // An unquoted '#' ends the word and starts a comment.
        assert_eq!(plain(b"pa#ss word\nnext"), vec![&b"pa"[..], b"next"]);
        // Quoted '#' is literal.
        assert_eq!(plain(b"\"pa#ss\" x"), vec![&b"pa#ss"[..], b"x"]);
        assert_eq!(plain(b"pa\\#ss"), vec![b"pa#ss"]);
    }

    #[test]
    fn quotes_concatenate_and_keep_whitespace() {
        assert_eq!(plain(b"ab\"c d\"e"), vec![b"abc de"]);
        assert_eq!(plain(b"'it''s'"), vec![b"its"]);
        assert_eq!(plain(b"\"a'b\""), vec![b"a'b"]);
        assert_eq!(plain(b"'two\nlines' x"), vec![&b"two\nlines"[..], b"x"]);
    }

    #[test]
    fn empty_quoted_word() {
        assert_eq!(plain(b"a \"\" b\n"), vec![&b"a"[..], b"", b"b"]);
        // At the very end of the file pppd loses it.
        assert_eq!(plain(b"a \"\""), vec![b"a"]);
        assert_eq!(plain(b"a \"\"\n"), vec![&b"a"[..], b""]);
    }

    #[test]
    fn backslash_escapes() {
        assert_eq!(plain(b"C@saVa\\t"), vec![b"C@saVa\t"]);
        assert_eq!(plain(b"C@saVa\\\\t"), vec![b"C@saVa\\t"]);
        assert_eq!(plain(b"\\a\\b\\f\\n\\r\\s"), vec![b"\x07\x08\x0c\n\r "]);
        assert_eq!(plain(b"\\101\\1012"), vec![b"AA2"]);
        assert_eq!(plain(b"\\x41\\x4a\\x4G"), vec![b"AJ\x04G"]);
        assert_eq!(plain(b"\\\" \\' \\ x"), vec![&b"\""[..], b"'", b" x"]);
        // Escapes also work inside quotes.
        assert_eq!(plain(b"\"a\\tb\""), vec![b"a\tb"]);
        // NUL ends the C string.
        assert_eq!(plain(b"ab\\0cd"), vec![b"ab"]);
        assert_eq!(plain(b"ab\\xcd"), vec![b"ab\xcd"]);
        assert_eq!(plain(b"ab\\x"), vec![b"ab"]);
    }

    #[test]
    fn line_continuation() {
        let got = words(b"a\\\nb c\n\\\nd");
        assert_eq!(
            got,
            vec![
                (b"ab".to_vec(), false, 1),
                (b"c".to_vec(), false, 2),
                // Backslash-newline before a word does not count as a newline.
                (b"d".to_vec(), true, 4),
            ]
        );
    }

    #[test]
    fn octal_escape_followed_by_newline_keeps_line_count() {
        let got = words(b"\\101\nB");
        assert_eq!(
            got,
            vec![(b"A".to_vec(), false, 1), (b"B".to_vec(), true, 2)]
        );
    }

    #[test]
    fn long_words_are_cut_like_pppd() {
        let long = vec![b'x'; 3000];
        let mut w = Words::new(&long);
        let mut buf = [0u8; MAX_WORD_LEN];
        let word = w.next_word(&mut buf).unwrap();
        assert_eq!(word.len, MAX_WORD_LEN - 1);
        assert!(word.truncated);
        assert!(w.next_word(&mut buf).is_none());
    }

    #[test]
    fn unterminated_quote_is_reported() {
        let mut w = Words::new(b"'abc");
        let mut buf = [0u8; MAX_WORD_LEN];
        let word = w.next_word(&mut buf).unwrap();
        assert_eq!(&buf[..word.len], b"abc");
        assert!(word.unterminated_quote);
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = XorShift(0x5eed_1234);
        let alphabet = b"ab \t\n\\\"'#x0179";
        let mut buf = [0u8; MAX_WORD_LEN];
        for round in 0..3000 {
            let len = (rng.next_u32() % 200) as usize;
            let mut text = vec![0u8; len];
            rng.fill_bytes(&mut text);
            if round % 2 == 0 {
                // Mostly syntax characters, to reach every branch.
                for b in &mut text {
                    *b = alphabet[*b as usize % alphabet.len()];
                }
            }
            let mut w = Words::new(&text);
            let mut count = 0;
            while let Some(word) = w.next_word(&mut buf) {
                assert!(word.len < MAX_WORD_LEN);
                count += 1;
                assert!(count <= text.len());
            }
        }
    }
}
