//! The admin API (plain HTTP, JSON) that tests use to drive the simulator.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use crate::events::{EventOptions, Opening};
use crate::fault::{Counters, Fault};
use crate::http::{Request, Response, TEXT};
use crate::state::{Passcode, State};
use crate::Inner;

const HELP: &str = "ttlock-sim admin API (JSON bodies)
GET    /state                  the whole state
PUT    /state                  replace the whole state
GET    /options                the options
POST   /options                merge options, e.g. {\"gateway_hold_ms\":0}
POST   /fault                  add a fault (object) or faults (array)
GET    /faults                 pending faults
DELETE /faults                 remove every pending fault
GET    /counters               counters
POST   /counters/reset         zero the counters
POST   /tokens/expire          every access token expires now
GET    /now                    {\"now_ms\": simulator clock}
GET    /locks/ID               one lock
POST   /locks/ID               merge fields into a lock, e.g. {\"remote_unlock\":false}
POST   /locks/ID/passcodes     add a passcode (object) or passcodes (array) as stored; ids back
POST   /gateways/ID            merge fields into a gateway, e.g. {\"online\":false}; back online, it
                               uploads the unsent records of its locks
POST   /keypad                 a guest types a code: {\"lock_id\":1001,\"code\":\"1234567\",\"at_ms\":…}
POST   /open                   an opening by card, app, …: {\"lock_id\":1001,\"by\":\"card\",\"who\":\"Card 3\"}
GET    /locks/ID/keypad        the codes the lock itself holds
POST   /locks/ID/records/upload  the lock's unsent records reach the cloud
";

fn ok(v: Value) -> Response {
    Response::json(v.to_string())
}

fn error(status: u16, msg: impl std::fmt::Display) -> Response {
    Response::json(json!({ "error": msg.to_string() }).to_string()).with_status(status)
}

fn body_json(req: &Request) -> Result<Value, Response> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(&req.body).map_err(|e| error(400, format!("invalid JSON: {e}")))
}

/// Overlays the keys of `patch` on `cur`'s JSON form; unknown keys and changes to `fixed` keys
/// are refused so a typo in a test fails loudly.
fn merge<T: Serialize + DeserializeOwned>(
    cur: &T,
    patch: &Value,
    fixed: &[&str],
) -> Result<T, String> {
    let mut v = serde_json::to_value(cur).map_err(|e| e.to_string())?;
    let obj = v.as_object_mut().ok_or("not an object")?;
    let Value::Object(p) = patch else {
        return Err("the body must be a JSON object".into());
    };
    for (k, val) in p {
        match obj.get(k) {
            None => return Err(format!("unknown field `{k}`")),
            Some(old) if fixed.contains(&k.as_str()) && old != val => {
                return Err(format!("`{k}` cannot be changed"))
            }
            _ => {
                obj.insert(k.clone(), val.clone());
            }
        }
    }
    serde_json::from_value(v).map_err(|e| e.to_string())
}

pub(crate) fn handle(inner: &Inner, req: &Request) -> Response {
    match route(inner, req) {
        Ok(r) | Err(r) => r,
    }
}

fn route(inner: &Inner, req: &Request) -> Result<Response, Response> {
    let segs: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    let m = req.method.as_str();
    Ok(match (m, segs.as_slice()) {
        ("GET", [""]) => Response {
            status: 200,
            content_type: TEXT,
            body: HELP.as_bytes().to_vec(),
        },
        ("GET", ["state"]) => Response::json(inner.world().state.to_json()),
        ("PUT", ["state"]) => {
            let v = body_json(req)?;
            let s = State::from_value(v).map_err(|e| error(400, format!("bad state: {e}")))?;
            inner.world().state = s;
            ok(json!({ "ok": true }))
        }
        ("GET", ["options"]) => ok(json!(inner.world().state.options)),
        ("POST", ["options"]) => {
            let v = body_json(req)?;
            let mut w = inner.world();
            let o = merge(&w.state.options, &v, &[]).map_err(|e| error(400, e))?;
            w.state.options = o;
            ok(json!(w.state.options))
        }
        ("POST", ["fault"]) => {
            let v = body_json(req)?;
            let list: Vec<Fault> = match v {
                Value::Array(_) => serde_json::from_value(v),
                _ => serde_json::from_value(v).map(|f| vec![f]),
            }
            .map_err(|e| error(400, format!("bad fault: {e}")))?;
            let mut w = inner.world();
            w.faults.extend(list);
            ok(json!({ "ok": true, "pending": w.faults.len() }))
        }
        ("GET", ["faults"]) => ok(json!(inner.world().faults)),
        ("DELETE", ["faults"]) => {
            inner.world().faults.clear();
            ok(json!({ "ok": true }))
        }
        ("GET", ["counters"]) => ok(json!(inner.world().counters)),
        ("POST", ["counters", "reset"]) => {
            inner.world().counters = Counters::default();
            ok(json!({ "ok": true }))
        }
        ("POST", ["tokens", "expire"]) => {
            inner.world().state.expire_access_tokens();
            ok(json!({ "ok": true }))
        }
        ("GET", ["now"]) => ok(json!({ "now_ms": inner.world().state.now_ms() })),
        ("POST", ["keypad"]) => {
            let v = body_json(req)?;
            let (lock_id, code, ev) = keypad_request(&v).map_err(|e| error(400, e))?;
            let answer = inner
                .world()
                .state
                .keypad_with(lock_id, &code, ev)
                .ok_or_else(|| error(404, format!("no lock {lock_id}")))?;
            ok(json!(answer))
        }
        ("POST", ["open"]) => {
            let v = body_json(req)?;
            let o: Opening =
                serde_json::from_value(v).map_err(|e| error(400, format!("bad opening: {e}")))?;
            let id = inner
                .world()
                .state
                .open(&o)
                .ok_or_else(|| error(404, format!("no lock {}", o.lock_id)))?;
            if o.no_record_id {
                ok(json!({ "ok": true }))
            } else {
                ok(json!({ "ok": true, "record_id": id }))
            }
        }
        (_, ["locks", id, rest @ ..]) => {
            let id: i64 = id.parse().map_err(|_| error(400, "bad lock id"))?;
            let mut w = inner.world();
            let lock = w
                .state
                .lock(id)
                .cloned()
                .ok_or_else(|| error(404, format!("no lock {id}")))?;
            match (m, rest) {
                ("GET", []) => ok(json!(lock)),
                ("GET", ["keypad"]) => ok(json!(lock.keypad_codes())),
                ("POST", ["records", "upload"]) => {
                    let n = w.state.upload_records(id);
                    ok(json!({ "ok": true, "uploaded": n }))
                }
                ("POST", []) => {
                    let v = body_json(req)?;
                    let new = merge(&lock, &v, &["lock_id"]).map_err(|e| error(400, e))?;
                    *w.state.lock_mut(id).expect("found above") = new.clone();
                    ok(json!(new))
                }
                ("POST", ["passcodes"]) => {
                    let v = body_json(req)?;
                    let list: Vec<Passcode> = match v {
                        Value::Array(_) => serde_json::from_value(v),
                        _ => serde_json::from_value(v).map(|p| vec![p]),
                    }
                    .map_err(|e| error(400, format!("bad passcode: {e}")))?;
                    let ids: Vec<i64> = list
                        .into_iter()
                        .map(|p| w.state.add_passcode(id, p))
                        .collect();
                    ok(json!({ "ok": true, "ids": ids }))
                }
                _ => return Err(error(404, "unknown admin request; GET / lists them")),
            }
        }
        ("POST", ["gateways", id]) => {
            let id: i64 = id.parse().map_err(|_| error(400, "bad gateway id"))?;
            let v = body_json(req)?;
            let mut w = inner.world();
            let gw = w
                .state
                .gateway(id)
                .cloned()
                .ok_or_else(|| error(404, format!("no gateway {id}")))?;
            let new = merge(&gw, &v, &["gateway_id"]).map_err(|e| error(400, e))?;
            *w.state.gateway_mut(id).expect("found above") = new.clone();
            if new.online && !gw.online {
                w.state.gateway_came_back(id);
            }
            ok(json!(new))
        }
        _ => return Err(error(404, "unknown admin request; GET / lists them")),
    })
}

/// `{"lock_id": n, "code": "…", "at_ms": n?, "upload_delay_ms": n?, "no_record_id": b?}` (a
/// numeric code is taken as its digits); unknown fields are refused so a typo fails loudly.
fn keypad_request(v: &Value) -> Result<(i64, String, EventOptions), String> {
    let Value::Object(m) = v else {
        return Err("the body must be a JSON object".into());
    };
    const FIELDS: [&str; 5] = [
        "lock_id",
        "code",
        "at_ms",
        "upload_delay_ms",
        "no_record_id",
    ];
    if let Some(k) = m.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(format!("unknown field `{k}`"));
    }
    let lock_id = m
        .get("lock_id")
        .and_then(Value::as_i64)
        .ok_or("`lock_id` (an integer) is required")?;
    let code = match m.get("code") {
        Some(Value::String(c)) => c.clone(),
        Some(Value::Number(n)) if n.is_u64() => n.to_string(),
        _ => return Err("`code` (a string of digits) is required".into()),
    };
    let at_ms = match m.get("at_ms") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_i64().ok_or("`at_ms` must be an integer (ms)")?),
    };
    let upload_delay_ms = match m.get("upload_delay_ms") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .ok_or("`upload_delay_ms` must be a non-negative integer (ms)")?,
        ),
    };
    let no_record_id = match m.get("no_record_id") {
        None | Some(Value::Null) => false,
        Some(v) => v.as_bool().ok_or("`no_record_id` must be true or false")?,
    };
    Ok((
        lock_id,
        code,
        EventOptions {
            at_ms,
            upload_delay_ms,
            no_record_id,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Options;

    #[test]
    fn merge_refuses_unknown_and_fixed_fields() {
        let o = Options::default();
        let m = merge(&o, &json!({"gateway_hold_ms": 5}), &[]).unwrap();
        assert_eq!(m.gateway_hold_ms, 5);
        assert_eq!(m.latency_ms, o.latency_ms);
        assert!(merge(&o, &json!({"gateway_hold": 5}), &[]).is_err());
        assert!(merge(&o, &json!({"gateway_hold_ms": "x"}), &[]).is_err());
        assert!(merge(&o, &json!([1]), &[]).is_err());
        let l = crate::state::Lock::new(1, "a", &[1]);
        assert!(merge(&l, &json!({"lock_id": 2}), &["lock_id"]).is_err());
        assert!(merge(&l, &json!({"lock_id": 1, "battery": 5}), &["lock_id"]).is_ok());
    }

    #[test]
    fn keypad_requests() {
        assert_eq!(
            keypad_request(&json!({"lock_id": 1, "code": "0123"})),
            Ok((1, "0123".into(), EventOptions::default()))
        );
        assert_eq!(
            keypad_request(&json!({"lock_id": 1, "code": 4821, "at_ms": 5})),
            Ok((1, "4821".into(), EventOptions::at(Some(5))))
        );
        assert_eq!(
            keypad_request(&json!({"lock_id": 1, "code": "1", "upload_delay_ms": 9,
                                   "no_record_id": true})),
            Ok((
                1,
                "1".into(),
                EventOptions {
                    at_ms: None,
                    upload_delay_ms: Some(9),
                    no_record_id: true
                }
            ))
        );
        assert!(
            keypad_request(&json!({"lock_id": 1, "code": "1", "upload_delay_ms": -1})).is_err()
        );
        assert!(keypad_request(&json!({"lock_id": 1, "code": "1", "no_record_id": 1})).is_err());
        assert!(keypad_request(&json!({"lock_id": 1})).is_err());
        assert!(keypad_request(&json!({"code": "1"})).is_err());
        assert!(keypad_request(&json!({"lock_id": 1, "code": "1", "at": 5})).is_err());
        assert!(keypad_request(&json!({"lock_id": 1, "code": "1", "at_ms": "x"})).is_err());
    }
}
