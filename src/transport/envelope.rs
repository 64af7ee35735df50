//! The errcode envelope: how an HTTP answer becomes a payload or an error.
use serde_json::Value;

use super::Endpoint;
use crate::error::{Code, Error, Result};
use crate::lenient::num_i64;

/// Apply the envelope rule to an HTTP answer.
pub fn parse_envelope(status: u16, body: &[u8], ep: &Endpoint) -> Result<Value> {
    let path = ep.path;
    if status != 200 {
        return Err(Error::http_status(status, path));
    }
    let bad = |why: &str| {
        Error::new(
            Code::BadResponse,
            format!("unreadable answer from {path}: {why}"),
        )
        .with_http_status(status)
    };
    let v: Value = serde_json::from_slice(body).map_err(|_| bad("not JSON"))?;
    let obj = v.as_object().ok_or_else(|| bad("not a JSON object"))?;
    match obj.get("errcode") {
        None | Some(Value::Null) => Ok(v),
        Some(code) => match num_i64(code) {
            Some(0) => Ok(v),
            Some(n) => {
                let msg = obj
                    .get("errmsg")
                    .and_then(Value::as_str)
                    .or_else(|| obj.get("description").and_then(Value::as_str));
                Err(Error::from_answer(n, msg, Some(path)))
            }
            None => Err(bad("errcode is not a number")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const P: Endpoint = Endpoint::query("/v3/p");

    #[test]
    fn envelope_rule() {
        // No errcode: a query's payload.
        assert_eq!(
            parse_envelope(200, br#"{"state":1}"#, &P).unwrap(),
            json!({"state": 1})
        );
        // errcode 0, also as a string.
        assert!(parse_envelope(200, br#"{"errcode":0,"errmsg":"none"}"#, &P).is_ok());
        assert!(parse_envelope(200, br#"{"errcode":"0"}"#, &P).is_ok());
        let e = parse_envelope(200, br#"{"errcode":-3003,"errmsg":"busy"}"#, &P).unwrap_err();
        assert_eq!(e.code(), Code::GatewayBusy);
        assert_eq!(e.errcode(), Some(-3003));
        let e = parse_envelope(200, br#"{"errcode":"10004","errmsg":"invalid grant"}"#, &P)
            .unwrap_err();
        assert_eq!(e.errcode(), Some(10004));
        let e = parse_envelope(503, b"<html>down</html>", &P).unwrap_err();
        assert_eq!(
            (e.code(), e.http_status_code()),
            (Code::HttpStatus, Some(503))
        );
        for body in [&b"<html>"[..], b"[1,2]", b"", br#"{"errcode":"x"}"#] {
            let e = parse_envelope(200, body, &P).unwrap_err();
            assert_eq!(e.code(), Code::BadResponse, "{body:?}");
        }
    }
}
