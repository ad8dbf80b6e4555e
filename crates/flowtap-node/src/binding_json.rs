//! A minimal JSON writer for the records that cross to JavaScript as one
//! string per batch (`JSON.parse` there builds the objects faster than N-API
//! calls could, one call for the whole batch).
//!
//! Contract: the output is valid JSON whatever the input strings hold
//! (control characters and quotes are escaped; strings are already valid
//! UTF-8). Integers above 2^53 must be written with [`Json::ns`], as decimal
//! strings, because JSON numbers become doubles.

use std::fmt::Write;

pub struct Json {
    pub buf: String,
    /// Per open object/array: whether the next member needs a comma.
    first: Vec<bool>,
}

impl Default for Json {
    fn default() -> Self {
        Self::new()
    }
}

impl Json {
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    pub fn with_capacity(bytes: usize) -> Self {
        Json {
            buf: String::with_capacity(bytes),
            first: Vec::new(),
        }
    }

    fn sep(&mut self) {
        if let Some(first) = self.first.last_mut() {
            if !*first {
                self.buf.push(',');
            }
            *first = false;
        }
    }

    fn key(&mut self, k: &str) {
        self.sep();
        self.buf.push('"');
        self.buf.push_str(k);
        self.buf.push_str("\":");
    }

    pub fn begin_obj(&mut self) {
        self.sep();
        self.buf.push('{');
        self.first.push(true);
    }

    pub fn obj(&mut self, k: &str) {
        self.key(k);
        self.buf.push('{');
        self.first.push(true);
    }

    pub fn end_obj(&mut self) {
        self.buf.push('}');
        self.first.pop();
    }

    pub fn begin_arr(&mut self) {
        self.sep();
        self.buf.push('[');
        self.first.push(true);
    }

    pub fn arr(&mut self, k: &str) {
        self.key(k);
        self.buf.push('[');
        self.first.push(true);
    }

    pub fn end_arr(&mut self) {
        self.buf.push(']');
        self.first.pop();
    }

    pub fn null(&mut self, k: &str) {
        self.key(k);
        self.buf.push_str("null");
    }

    pub fn str(&mut self, k: &str, v: &str) {
        self.key(k);
        self.raw_str(v);
    }

    pub fn opt_str(&mut self, k: &str, v: Option<&str>) {
        match v {
            Some(v) => self.str(k, v),
            None => self.null(k),
        }
    }

    /// An array element.
    pub fn item_str(&mut self, v: &str) {
        self.sep();
        self.raw_str(v);
    }

    pub fn item_num(&mut self, v: u64) {
        self.sep();
        self.digits(v.min(1 << 53));
    }

    pub fn num(&mut self, k: &str, v: u64) {
        self.key(k);
        self.digits(v.min(1 << 53));
    }

    /// `v` in decimal (the formatting machinery costs more than the
    /// digits; records hold many numbers).
    fn digits(&mut self, mut v: u64) {
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        loop {
            i -= 1;
            tmp[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        // ASCII digits.
        self.buf
            .push_str(std::str::from_utf8(&tmp[i..]).unwrap_or("0"));
    }

    pub fn opt_num(&mut self, k: &str, v: Option<u64>) {
        match v {
            Some(v) => self.num(k, v),
            None => self.null(k),
        }
    }

    /// A nanosecond time (or any u64), as a decimal string.
    pub fn ns(&mut self, k: &str, v: u64) {
        self.key(k);
        self.buf.push('"');
        self.digits(v);
        self.buf.push('"');
    }

    pub fn bool(&mut self, k: &str, v: bool) {
        self.key(k);
        self.buf.push_str(if v { "true" } else { "false" });
    }

    pub fn nums<T: Copy + Into<u64>>(&mut self, k: &str, v: &[T]) {
        self.arr(k);
        for &x in v {
            self.item_num(x.into());
        }
        self.end_arr();
    }

    pub fn hex(&mut self, k: &str, v: &[u8]) {
        self.key(k);
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.buf.reserve(v.len() * 2 + 2);
        self.buf.push('"');
        for &b in v {
            self.buf.push(HEX[(b >> 4) as usize] as char);
            self.buf.push(HEX[(b & 15) as usize] as char);
        }
        self.buf.push('"');
    }

    fn raw_str(&mut self, v: &str) {
        self.buf.push('"');
        // Copy runs that need no escape whole; most strings are one run.
        let bytes = v.as_bytes();
        let mut run = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let esc: Option<&str> = match b {
                b'"' => Some("\\\""),
                b'\\' => Some("\\\\"),
                b'\n' => Some("\\n"),
                b'\r' => Some("\\r"),
                b'\t' => Some("\\t"),
                0..=0x1f => Some(""),
                _ => None,
            };
            let Some(esc) = esc else {
                continue;
            };
            self.buf.push_str(&v[run..i]);
            if esc.is_empty() {
                let _ = write!(self.buf, "\\u{b:04x}");
            } else {
                self.buf.push_str(esc);
            }
            run = i + 1;
        }
        self.buf.push_str(&v[run..]);
        self.buf.push('"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_values_and_escapes() {
        let mut j = Json::new();
        j.begin_arr();
        j.begin_obj();
        j.str("a", "x\"y\\\n\u{1}");
        j.num("n", 5);
        j.ns("t", u64::MAX);
        j.arr("l");
        j.item_num(1);
        j.item_str("b");
        j.end_arr();
        j.obj("o");
        j.null("z");
        j.end_obj();
        j.end_obj();
        j.begin_obj();
        j.bool("b", true);
        j.end_obj();
        j.end_arr();
        assert_eq!(
            j.buf,
            r#"[{"a":"x\"y\\\n\u0001","n":5,"t":"18446744073709551615","l":[1,"b"],"o":{"z":null}},{"b":true}]"#
        );
    }
}
