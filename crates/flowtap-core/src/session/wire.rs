//! Bounds-checked reading of binary protocol fields and bounded strings.
//! Every read returns `None` instead of indexing past the end, so the DNS and
//! TLS decoders built on it cannot panic on short input.

/// A cursor over a byte slice.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.bytes(1).map(|b| b[0])
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.bytes(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u24(&mut self) -> Option<u32> {
        self.bytes(3)
            .map(|b| u32::from_be_bytes([0, b[0], b[1], b[2]]))
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.bytes(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A sub-reader over `n` bytes, the parent moved past them.
    pub(crate) fn sub(&mut self, n: usize) -> Option<Reader<'a>> {
        self.bytes(n).map(Reader::new)
    }

    /// A block prefixed by a 1-byte length.
    pub(crate) fn vec8(&mut self) -> Option<Reader<'a>> {
        let n = self.u8()? as usize;
        self.sub(n)
    }

    /// A block prefixed by a 2-byte length.
    pub(crate) fn vec16(&mut self) -> Option<Reader<'a>> {
        let n = self.u16()? as usize;
        self.sub(n)
    }

    /// The unread bytes.
    pub(crate) fn rest(self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }
}

/// `bytes` as a string of at most `max` bytes (cut at a character boundary),
/// invalid UTF-8 replaced; the flag says whether it was cut.
pub(crate) fn bounded_string(bytes: &[u8], max: usize) -> (String, bool) {
    let cut = bytes.len() > max;
    let bytes = &bytes[..bytes.len().min(max)];
    let mut s = String::from_utf8_lossy(bytes).into_owned();
    if s.len() > max {
        // Replacement characters are 3 bytes; keep the bound exact.
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    (s, cut)
}

/// Pushes to a bounded list; false (and nothing pushed) when it is full.
pub(crate) fn push_bounded<T>(list: &mut Vec<T>, max: usize, v: T) -> bool {
    if list.len() < max {
        list.push(v);
        true
    } else {
        false
    }
}
