//! The form encoding of requests (query strings and POST bodies).

/// application/x-www-form-urlencoded (also used for query strings): unreserved bytes as they
/// are, everything else %XX, so names with spaces or non-ASCII text arrive intact.
pub fn encode_form(params: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        pct(k, &mut out);
        out.push('=');
        pct(v, &mut out);
    }
    out
}

fn pct(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding() {
        assert_eq!(
            encode_form(&[("a", "1"), ("name", "Room 101/ä&x=y")]),
            "a=1&name=Room%20101%2F%C3%A4%26x%3Dy"
        );
        assert_eq!(encode_form(&[]), "");
        assert_eq!(encode_form(&[("k", "A-z_0.9~")]), "k=A-z_0.9~");
    }
}
