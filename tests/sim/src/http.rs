//! A small blocking HTTP/1.1 server side: request parsing (Content-Length and chunked bodies,
//! `Expect: 100-continue`), response writing, keep-alive decisions.

use std::collections::HashMap;
use std::io::{self, Read, Write};

use crate::util::parse_form;

const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 32 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path without the query string.
    pub path: String,
    pub query: String,
    pub http11: bool,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn connection_has(&self, token: &str) -> bool {
        self.header("connection")
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }

    /// Whether the client asked for the connection to end after this exchange.
    pub fn wants_close(&self) -> bool {
        if self.http11 {
            self.connection_has("close")
        } else {
            !self.connection_has("keep-alive")
        }
    }

    /// Query string and form body merged; for a name given twice the first wins, query before
    /// body, as a Java servlet's getParameter reads them.
    pub fn params(&self) -> HashMap<String, String> {
        let mut m = HashMap::new();
        parse_form(&self.query, &mut m);
        parse_form(&String::from_utf8_lossy(&self.body), &mut m);
        m
    }
}

#[derive(Debug)]
pub enum ReadError {
    /// The peer closed (or the socket failed) between requests.
    Closed,
    /// A malformed request: answer 400 and close.
    Bad(&'static str),
}

impl From<io::Error> for ReadError {
    fn from(_: io::Error) -> Self {
        ReadError::Closed
    }
}

/// A server-side HTTP connection over any byte stream.
pub struct Conn<S> {
    pub stream: S,
    buf: Vec<u8>,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl<S: Read + Write> Conn<S> {
    pub fn new(stream: S) -> Self {
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Reads more bytes into the buffer; `Closed` on EOF.
    fn fill(&mut self) -> Result<(), ReadError> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk)?;
        if n == 0 {
            return Err(ReadError::Closed);
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    fn take_line(&mut self) -> Result<String, ReadError> {
        loop {
            if let Some(i) = find(&self.buf, b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..i]).into_owned();
                self.buf.drain(..i + 2);
                return Ok(line);
            }
            if self.buf.len() > MAX_HEAD {
                return Err(ReadError::Bad("line too long"));
            }
            self.fill()?;
        }
    }

    fn take_exact(&mut self, n: usize) -> Result<Vec<u8>, ReadError> {
        while self.buf.len() < n {
            self.fill()?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// The next request on the connection.
    pub fn read_request(&mut self) -> Result<Request, ReadError> {
        // Tolerate stray empty lines between requests (RFC 7230 3.5).
        let mut line = self.take_line()?;
        while line.is_empty() {
            line = self.take_line()?;
        }
        let mut parts = line.split_whitespace();
        let (method, target, version) = match (parts.next(), parts.next(), parts.next()) {
            (Some(m), Some(t), Some(v)) if v.starts_with("HTTP/1.") => (m, t, v),
            _ => return Err(ReadError::Bad("bad request line")),
        };
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut req = Request {
            method: method.to_string(),
            path: path.to_string(),
            query: query.to_string(),
            http11: version != "HTTP/1.0",
            headers: Vec::new(),
            body: Vec::new(),
        };
        let mut head = line.len();
        loop {
            let h = self.take_line()?;
            if h.is_empty() {
                break;
            }
            head += h.len();
            if head > MAX_HEAD {
                return Err(ReadError::Bad("header too large"));
            }
            let (k, v) = h.split_once(':').ok_or(ReadError::Bad("bad header"))?;
            req.headers
                .push((k.trim().to_string(), v.trim().to_string()));
        }
        let chunked = req
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        let length = match req.header("content-length") {
            Some(v) => Some(
                v.parse::<usize>()
                    .map_err(|_| ReadError::Bad("bad content-length"))?,
            ),
            None => None,
        };
        if (chunked || length.unwrap_or(0) > 0)
            && req
                .header("expect")
                .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
        {
            self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
            self.stream.flush()?;
        }
        if chunked {
            loop {
                let size_line = self.take_line()?;
                let size_hex = size_line.split(';').next().unwrap_or("").trim();
                let size = usize::from_str_radix(size_hex, 16)
                    .map_err(|_| ReadError::Bad("bad chunk size"))?;
                if size == 0 {
                    // Trailers, up to the empty line.
                    while !self.take_line()?.is_empty() {}
                    break;
                }
                if req.body.len() + size > MAX_BODY {
                    return Err(ReadError::Bad("body too large"));
                }
                let data = self.take_exact(size)?;
                req.body.extend_from_slice(&data);
                if !self.take_line()?.is_empty() {
                    return Err(ReadError::Bad("bad chunk end"));
                }
            }
        } else if let Some(n) = length {
            if n > MAX_BODY {
                return Err(ReadError::Bad("body too large"));
            }
            req.body = self.take_exact(n)?;
        }
        Ok(req)
    }
}

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

pub const JSON: &str = "application/json;charset=UTF-8";
pub const HTML: &str = "text/html";
pub const TEXT: &str = "text/plain;charset=UTF-8";

impl Response {
    pub fn json(body: impl Into<Vec<u8>>) -> Response {
        Response {
            status: 200,
            content_type: JSON,
            body: body.into(),
        }
    }

    pub fn with_status(mut self, status: u16) -> Response {
        self.status = status;
        self
    }

    /// The HTML error page a proxy in front of TTLock would send.
    pub fn html_status(status: u16) -> Response {
        let title = format!("{status} {}", reason(status));
        Response {
            status,
            content_type: HTML,
            body: format!(
                "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
            )
            .into_bytes(),
        }
    }
}

pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Temporarily Unavailable",
        504 => "Gateway Time-out",
        _ => "Status",
    }
}

/// Writes one response; `date` is the `Date` header value.
pub fn write_response<W: Write>(
    w: &mut W,
    resp: &Response,
    close: bool,
    date: &str,
) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {} {}\r\nServer: ttlock-sim\r\nDate: {date}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
        resp.status,
        reason(resp.status),
        resp.content_type,
        resp.body.len(),
        if close { "close" } else { "keep-alive" },
    );
    let mut out = head.into_bytes();
    out.extend_from_slice(&resp.body);
    w.write_all(&out)?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A stream that reads from a script and records what is written.
    struct Duplex {
        input: Cursor<Vec<u8>>,
        output: Vec<u8>,
    }
    impl Read for Duplex {
        fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
            // One byte at a time, to exercise split reads.
            let n = b.len().min(1);
            self.input.read(&mut b[..n])
        }
    }
    impl Write for Duplex {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.output.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    fn conn(s: &str) -> Conn<Duplex> {
        Conn::new(Duplex {
            input: Cursor::new(s.as_bytes().to_vec()),
            output: Vec::new(),
        })
    }

    #[test]
    fn parses_pipelined_requests() {
        let mut c = conn(
            "POST /v3/lock/unlock?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\nlockId=12\
             \r\nGET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n\
             PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3;x\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n",
        );
        let r = c.read_request().unwrap();
        assert_eq!(
            (r.method.as_str(), r.path.as_str(), r.query.as_str()),
            ("POST", "/v3/lock/unlock", "x=1")
        );
        assert_eq!(r.body, b"lockId=12");
        assert_eq!(r.params()["lockId"], "12");
        assert_eq!(r.params()["x"], "1");
        let both = Request {
            query: "a=q".into(),
            body: b"a=b&c=d".to_vec(),
            ..r.clone()
        };
        assert_eq!(
            (both.params()["a"].as_str(), both.params()["c"].as_str()),
            ("q", "d")
        );
        assert!(!r.wants_close());
        let r = c.read_request().unwrap();
        assert!(!r.http11);
        assert!(!r.wants_close());
        let r = c.read_request().unwrap();
        assert_eq!(r.body, b"abcde");
        assert!(r.wants_close());
        assert!(matches!(c.read_request(), Err(ReadError::Closed)));
    }

    #[test]
    fn answers_expect_continue_and_rejects_garbage() {
        let mut c =
            conn("PUT /state HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}");
        let r = c.read_request().unwrap();
        assert_eq!(r.body, b"{}");
        assert_eq!(c.stream.output, b"HTTP/1.1 100 Continue\r\n\r\n");
        assert!(matches!(
            conn("hello\r\n\r\n").read_request(),
            Err(ReadError::Bad(_))
        ));
        assert!(matches!(
            conn("GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n").read_request(),
            Err(ReadError::Bad(_))
        ));
        assert!(matches!(
            conn("GET / HTTP/1.0\r\n\r\n")
                .read_request()
                .map(|r| r.wants_close()),
            Ok(true)
        ));
    }

    #[test]
    fn writes_responses() {
        let mut out = Vec::new();
        write_response(&mut out, &Response::json("{}"), true, "D").unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(s.contains("Content-Length: 2\r\n"));
        assert!(s.contains("Connection: close\r\n"));
        assert!(s.ends_with("\r\n\r\n{}"));
        let page = Response::html_status(503);
        assert!(String::from_utf8(page.body)
            .unwrap()
            .contains("503 Service Temporarily Unavailable"));
    }
}
