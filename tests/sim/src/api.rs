//! The TTLock endpoints: `/oauth2/token`, `/app/getMonthRequestCount` and `/v3/*`, with faults, latency and gateways.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::events::{EventOptions, OpenedBy};
use crate::fault::{take_fault, FaultKind};
use crate::http::{Request, Response};
use crate::keypad::random_codes_per_validity;
use crate::state::{Options, Passcode, Record, State, Token, TYPE_PERIOD, TYPE_PERMANENT};
use crate::util::{random_digits, random_hex};
use crate::Inner;

/// What the connection does with a request.
pub(crate) enum Action {
    Respond(Response),
    /// Close the connection without answering.
    Close,
}

/// The operation success envelope.
pub const OK_BODY: &str =
    r#"{"errcode":0,"errmsg":"none error message","description":"表示成功或是"}"#;

/// errmsg and description of an errcode, worded as TTLock's tables (errmsg from the legacy
/// table and live answers, descriptions from the CN table where known).
pub fn errcode_text(code: i64) -> (&'static str, &'static str) {
    match code {
        0 => ("none error message", "表示成功或是"),
        1 => ("failed or means no", "表示失败或否"),
        -3 => ("Invalid Parameter.", "无效的参数"),
        10000 => ("invalid client_id", "client_id不存在"),
        10001 => (
            "invalid client",
            "无效的client，client_id或client_secret错误",
        ),
        10003 => ("invalid token", "token不存在"),
        10004 => ("invalid grant", "token无授权，token已失效或被撤销授权"),
        10007 => ("invalid account", "用户名或密码错误"),
        10010 => ("unsupported grant_type", "不支持的grant_type"),
        10011 => ("invalid refresh_token", "refresh_token无效"),
        20002 => ("not lock admin", "不是锁管理员"),
        30005 => ("password must be md5 encrypted", "密码必须是md5加密"),
        30006 => (
            "exceeds the restrictions of API call number",
            "超出API调用次数限制",
        ),
        80000 => (
            "date must be current time, in 5 minutes",
            "date参数必须是当前时间，5分钟内",
        ),
        90000 => ("internal server error", "服务器内部错误"),
        -1003 => ("Lock does not exist.", "锁不存在"),
        // Wording ours (the code is in TTLock's CN table only, ttlock-api.md §9.4).
        -1026 => (
            "A passcode with this validity was already issued and deleted. Please choose another whole hour.",
            "该有效期的密码已获取并删除过，请选择其他整点时间",
        ),
        -2009 => ("Invalid Passcode.", "密码不存在"),
        -2012 => (
            "The Lock is not connected to any Gateway.",
            "锁没有连接网关",
        ),
        -3002 => (
            "The Gateway is offline. Please check and try again.",
            "网关离线，请检查后重试",
        ),
        -3003 => (
            "The Gateway is busy. Please try again later.",
            "网关正忙，请稍后再试",
        ),
        -3006 => (
            "Invalid Passcode. Passcode should be between 4 - 9 Digits in length.",
            "密码长度无效，密码应为4-9位数字",
        ),
        -3007 => (
            "Same Passcode already exists. Please use another one.",
            "已存在相同的密码，请更换",
        ),
        -3008 => (
            "A passcode that has never been used on the lock cannot be changed.",
            "从未在锁上使用过的密码不能修改",
        ),
        -3009 => (
            "No space for custom passcodes. Please delete unused passcodes and try again.",
            "自定义密码空间已满，请删除不用的密码后重试",
        ),
        -4037 => ("gateway does not exist", "网关不存在"),
        -4043 => (
            "The function is not supported for this lock.",
            "该锁不支持此功能",
        ),
        _ => ("failed", "失败"),
    }
}

/// `{"errcode":N,"errmsg":"…","description":"…"}` in TTLock's field order.
pub fn errcode_body(code: i64) -> String {
    let (msg, desc) = errcode_text(code);
    format!(
        r#"{{"errcode":{code},"errmsg":{},"description":{}}}"#,
        Value::from(msg),
        Value::from(desc)
    )
}

type Outcome = Result<String, i64>;

/// Every endpoint the simulator knows; others get HTTP 404.
const ENDPOINTS: &[&str] = &[
    "/oauth2/token",
    "/app/getMonthRequestCount",
    "/v3/keyboardPwd/add",
    "/v3/keyboardPwd/get",
    "/v3/keyboardPwd/change",
    "/v3/keyboardPwd/delete",
    "/v3/lock/listKeyboardPwd",
    "/v3/lock/unlock",
    "/v3/lock/lock",
    "/v3/lock/queryOpenState",
    "/v3/lock/queryElectricQuantity",
    "/v3/lock/queryDate",
    "/v3/lock/updateDate",
    "/v3/lock/detail",
    "/v3/lock/list",
    "/v3/gateway/listByLock",
    "/v3/gateway/list",
    "/v3/gateway/listLock",
    "/v3/lockRecord/list",
];

/// Endpoints that change something; `fake_success` answers them without doing it.
const OPERATIONS: &[&str] = &[
    "/v3/keyboardPwd/change",
    "/v3/keyboardPwd/delete",
    "/v3/lock/unlock",
    "/v3/lock/lock",
];

pub(crate) fn handle(inner: &Inner, req: &Request) -> Action {
    let lock_id = req
        .params()
        .get("lockId")
        .and_then(|v| v.parse::<i64>().ok());
    let (latency, fault) = {
        let mut w = inner.world();
        *w.counters.requests.entry(req.path.clone()).or_default() += 1;
        let fault = take_fault(&mut w.faults, |f| f.matches(&req.path, lock_id));
        (w.state.options.latency_ms, fault)
    };
    if !inner.sleep_ms(latency) {
        return Action::Close;
    }
    let Some(fault) = fault else {
        return Action::Respond(dispatch(inner, req));
    };
    match fault.kind {
        FaultKind::Delay => {
            if !inner.sleep_ms(fault.delay_ms.unwrap_or(0)) {
                return Action::Close;
            }
            Action::Respond(dispatch(inner, req))
        }
        FaultKind::DropBefore => Action::Close,
        FaultKind::LoseAnswer => {
            dispatch(inner, req);
            Action::Close
        }
        FaultKind::HttpStatus => {
            if fault.perform {
                dispatch(inner, req);
            }
            Action::Respond(Response::html_status(fault.status.unwrap_or(503)))
        }
        FaultKind::InvalidJson => {
            // A truncated body: the real one cut in half when performed, else a bare prefix.
            let body = if fault.perform {
                let mut b = dispatch(inner, req).body;
                b.truncate(b.len() / 2);
                b
            } else {
                b"{\"errcode\":".to_vec()
            };
            Action::Respond(Response::json(body))
        }
        FaultKind::Errcode => {
            if fault.perform {
                dispatch(inner, req);
            }
            Action::Respond(Response::json(errcode_body(fault.errcode.unwrap_or(-3003))))
        }
        FaultKind::FakeSuccess => Action::Respond(fake_success(inner, req)),
        FaultKind::FailedOrNo => {
            if fault.perform {
                dispatch(inner, req);
            }
            Action::Respond(Response::json(errcode_body(1)))
        }
        // Consumed at accept time, never matched to a request.
        FaultKind::DropConnect => Action::Respond(dispatch(inner, req)),
    }
}

fn fake_success(inner: &Inner, req: &Request) -> Response {
    let path = req.path.as_str();
    if OPERATIONS.contains(&path) {
        return Response::json(OK_BODY);
    }
    let mut w = inner.world();
    match path {
        "/v3/keyboardPwd/add" => {
            Response::json(json!({ "keyboardPwdId": w.state.next_passcode_id() }).to_string())
        }
        "/v3/keyboardPwd/get" => Response::json(
            json!({ "keyboardPwd": random_digits(7), "keyboardPwdId": w.state.next_passcode_id() })
                .to_string(),
        ),
        "/oauth2/token" => Response::json(
            json!({
                "access_token": random_hex(32), "refresh_token": random_hex(32),
                "uid": 0, "openid": 0, "scope": "user,key,room", "token_type": "Bearer",
                "expires_in": w.state.options.token_ttl_s,
            })
            .to_string(),
        ),
        _ => {
            drop(w);
            dispatch(inner, req)
        }
    }
}

fn dispatch(inner: &Inner, req: &Request) -> Response {
    let path = req.path.as_str();
    if !ENDPOINTS.contains(&path) {
        return Response::html_status(404);
    }
    let params = req.params();
    let p = Params(&params);
    let outcome = if path == "/oauth2/token" {
        token(inner, &p)
    } else if path == "/app/getMonthRequestCount" {
        month_request_count(inner, &p)
    } else {
        v3(inner, path, &p)
    };
    Response::json(match outcome {
        Ok(body) => body,
        Err(code) => errcode_body(code),
    })
}

struct Params<'a>(&'a HashMap<String, String>);

impl Params<'_> {
    /// A present, non-empty parameter.
    fn str(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str).filter(|v| !v.is_empty())
    }

    fn req_str(&self, k: &str) -> Result<&str, i64> {
        self.str(k).ok_or(-3)
    }

    /// Strict integer (as Java's Long.parseLong): ill-typed is -3.
    fn int(&self, k: &str) -> Result<Option<i64>, i64> {
        match self.str(k) {
            None => Ok(None),
            Some(v) => v.parse::<i64>().map(Some).map_err(|_| -3),
        }
    }

    fn req_int(&self, k: &str) -> Result<i64, i64> {
        self.int(k)?.ok_or(-3)
    }

    fn int_in(&self, k: &str, default: Option<i64>, lo: i64, hi: i64) -> Result<i64, i64> {
        let v = match (self.int(k)?, default) {
            (Some(v), _) => v,
            (None, Some(d)) => d,
            (None, None) => return Err(-3),
        };
        if (lo..=hi).contains(&v) {
            Ok(v)
        } else {
            Err(-3)
        }
    }
}

fn token(inner: &Inner, p: &Params) -> Outcome {
    let mut guard = inner.world();
    let w = &mut *guard;
    let grant = p.str("grant_type").unwrap_or("password");
    match grant {
        "password" => w.counters.token_grants += 1,
        "refresh_token" => w.counters.token_refreshes += 1,
        _ => {}
    }
    let s = &mut w.state;
    let client_id = p.str("clientId").or(p.str("client_id"));
    let secret = p.str("clientSecret").or(p.str("client_secret"));
    if client_id != Some(s.app.client_id.as_str()) {
        return Err(10000);
    }
    if secret != Some(s.app.client_secret.as_str()) {
        return Err(10001);
    }
    let ttl = s.options.token_ttl_s;
    match grant {
        "password" => {
            let username = p.str("username").ok_or(10007)?;
            let password = p.str("password").ok_or(10007)?;
            if password.len() != 32 || !password.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(30005);
            }
            let uid = s
                .users
                .iter()
                .find(|u| u.username == username && u.password_md5.eq_ignore_ascii_case(password))
                .map(|u| u.uid)
                .ok_or(10007)?;
            let t = s.issue_token(username);
            Ok(json!({
                "access_token": t.access_token, "uid": uid, "expires_in": ttl,
                "refresh_token": t.refresh_token, "openid": uid, "scope": "user,key,room",
                "token_type": "Bearer",
            })
            .to_string())
        }
        "refresh_token" => {
            let old = p.str("refresh_token").ok_or(10011)?.to_string();
            let username = s
                .tokens
                .iter()
                .find(|t| t.refresh_token == old && t.refresh_valid)
                .map(|t| t.username.clone())
                .ok_or(10011)?;
            let now = s.now_ms();
            let rotate = s.options.rotate_refresh_tokens;
            let revoke = s.options.refresh_revokes_access;
            for t in s.tokens.iter_mut().filter(|t| t.refresh_token == old) {
                if rotate {
                    t.refresh_valid = false;
                }
                if revoke {
                    t.access_expires_at_ms = t.access_expires_at_ms.min(now - 1);
                }
            }
            let t = Token {
                access_token: random_hex(32),
                refresh_token: if rotate { random_hex(32) } else { old },
                username: username.clone(),
                access_expires_at_ms: now + ttl * 1000,
                refresh_valid: true,
            };
            s.tokens.push(t.clone());
            let uid = s
                .users
                .iter()
                .find(|u| u.username == username)
                .map_or(0, |u| u.uid);
            // No uid here: the documented refresh answer and ttlockio's capture lack it.
            Ok(json!({
                "access_token": t.access_token, "refresh_token": t.refresh_token,
                "expires_in": ttl, "openid": uid, "scope": "user,key,room",
                "token_type": "Bearer",
            })
            .to_string())
        }
        _ => Err(10010),
    }
}

/// `/app/getMonthRequestCount`: the client is checked as `/oauth2/token` checks it (10000
/// unknown client id, 10001 wrong secret; no access token, no `date`). Months are not
/// modelled: the count is the `/v3/` requests counted since the simulator started or its
/// counters were reset (`Counters::api_calls`), which is what TTLock bills.
fn month_request_count(inner: &Inner, p: &Params) -> Outcome {
    let w = inner.world();
    let client_id = p.str("clientId").or(p.str("client_id"));
    let secret = p.str("clientSecret").or(p.str("client_secret"));
    if client_id != Some(w.state.app.client_id.as_str()) {
        return Err(10000);
    }
    if secret != Some(w.state.app.client_secret.as_str()) {
        return Err(10001);
    }
    Ok(json!({ "monthRequestCount": w.counters.api_calls() }).to_string())
}

/// Checks clientId, accessToken and date; returns the token's username.
fn authenticate(s: &State, p: &Params) -> Result<String, i64> {
    if p.str("clientId") != Some(s.app.client_id.as_str()) {
        return Err(10000);
    }
    let access = p.str("accessToken").ok_or(10003)?;
    let token = s
        .tokens
        .iter()
        .rev()
        .find(|t| t.access_token == access)
        .ok_or(10003)?;
    let now = s.now_ms();
    if token.access_expires_at_ms <= now {
        return Err(10004);
    }
    let date = p.req_int("date")?;
    if (date - now).abs() > 5 * 60 * 1000 {
        return Err(80000);
    }
    Ok(token.username.clone())
}

fn v3(inner: &Inner, path: &str, p: &Params) -> Outcome {
    let user = {
        let w = inner.world();
        authenticate(&w.state, p)?
    };
    match path {
        "/v3/keyboardPwd/add" => add_passcode(inner, p, &user),
        "/v3/keyboardPwd/get" => get_passcode(inner, p, &user),
        "/v3/keyboardPwd/change" => change_passcode(inner, p),
        "/v3/keyboardPwd/delete" => delete_passcode(inner, p),
        "/v3/lock/listKeyboardPwd" => list_passcodes(inner, p),
        "/v3/lock/unlock" => lock_or_unlock(inner, p, &user, 1),
        "/v3/lock/lock" => lock_or_unlock(inner, p, &user, 0),
        "/v3/lock/queryOpenState" => {
            let id = p.req_int("lockId")?;
            via_gateway(
                inner,
                id,
                |_| Ok(()),
                |s| {
                    let state = s.lock(id).map_or(2, |l| l.open_state);
                    if state == 2 && s.options.real_shapes {
                        // Real answers leave `state` out when the lock does not know it.
                        return Ok(json!({ "sensorState": 0 }).to_string());
                    }
                    Ok(json!({ "state": state }).to_string())
                },
            )
        }
        "/v3/lock/queryElectricQuantity" => {
            let id = p.req_int("lockId")?;
            via_gateway(
                inner,
                id,
                |_| Ok(()),
                |s| {
                    Ok(
                        json!({ "electricQuantity": s.lock(id).map_or(0, |l| l.battery) })
                            .to_string(),
                    )
                },
            )
        }
        "/v3/lock/queryDate" | "/v3/lock/updateDate" => {
            let id = p.req_int("lockId")?;
            via_gateway(
                inner,
                id,
                |_| Ok(()),
                |s| Ok(json!({ "date": s.now_ms() }).to_string()),
            )
        }
        "/v3/lock/detail" => {
            let id = p.req_int("lockId")?;
            let w = inner.world();
            let s = &w.state;
            let l = s.lock(id).ok_or(-1003)?;
            Ok(json!({
                "lockId": l.lock_id, "lockName": lock_name(l.lock_id), "lockAlias": l.alias,
                "lockMac": mac(0x5A, l.lock_id), "electricQuantity": l.battery,
                "featureValue": FEATURE_VALUE, "timezoneRawOffset": 0, "modelNum": "SN9161_PV53",
                "hardwareRevision": "1.6", "firmwareRevision": "6.0.6.210622",
                "autoLockTime": -1, "lockSound": 1, "soundVolume": 3,
                "hasGateway": i64::from(!l.gateway_ids.is_empty()), "privacyLock": 2,
                "tamperAlert": 1, "resetButton": 1, "openDirection": 0, "passageMode": 2,
                "passageModeAutoUnlock": 2, "date": 1_700_000_000_000i64,
            })
            .to_string())
        }
        "/v3/lock/list" => {
            let page_no = p.int_in("pageNo", None, 1, i64::MAX)?;
            let page_size = p.int_in("pageSize", None, 1, 1000)?;
            let alias = p.str("lockAlias").map(str::to_lowercase);
            let w = inner.world();
            let s = &w.state;
            let items: Vec<Value> = s
                .locks
                .iter()
                .filter(|l| {
                    alias
                        .as_ref()
                        .is_none_or(|a| l.alias.to_lowercase().contains(a))
                })
                .map(|l| {
                    json!({
                        "lockId": l.lock_id, "lockName": lock_name(l.lock_id),
                        "lockAlias": l.alias, "lockMac": mac(0x5A, l.lock_id),
                        "electricQuantity": l.battery, "featureValue": FEATURE_VALUE,
                        "hasGateway": i64::from(!l.gateway_ids.is_empty()), "lockData": "",
                        "groupId": 0, "groupName": "", "date": 1_700_000_000_000i64,
                    })
                })
                .collect();
            Ok(page(items, page_no, page_size, &s.options))
        }
        "/v3/gateway/listByLock" => {
            let id = p.req_int("lockId")?;
            let w = inner.world();
            let s = &w.state;
            let l = s.lock(id).ok_or(-1003)?;
            let now = s.now_ms();
            let signal: HashMap<i64, i64> = l.gateways_by_signal().into_iter().collect();
            let mut list: Vec<Value> = l
                .gateway_ids
                .iter()
                .filter_map(|g| s.gateway(*g))
                .map(|g| {
                    json!({
                        "gatewayId": g.gateway_id, "gatewayMac": mac(0x4C, g.gateway_id),
                        "gatewayName": g.name, "rssi": signal[&g.gateway_id],
                        "rssiUpdateDate": now - 60_000,
                    })
                })
                .collect();
            shape_items(&mut list, &s.options);
            Ok(json!({ "list": list }).to_string())
        }
        "/v3/gateway/list" => {
            let page_no = p.int_in("pageNo", None, 1, i64::MAX)?;
            let page_size = p.int_in("pageSize", None, 1, 200)?;
            let w = inner.world();
            let s = &w.state;
            let items: Vec<Value> = s
                .gateways
                .iter()
                .map(|g| {
                    let locks = s
                        .locks
                        .iter()
                        .filter(|l| l.gateway_ids.contains(&g.gateway_id))
                        .count();
                    json!({
                        "gatewayId": g.gateway_id, "gatewayMac": mac(0x4C, g.gateway_id),
                        "gatewayName": g.name, "gatewayVersion": 2, "networkName": "Hotel-WiFi",
                        "networkMac": "A0:B1:C2:D3:E4:F5", "lockNum": locks,
                        "isOnline": i64::from(g.online),
                    })
                })
                .collect();
            Ok(page(items, page_no, page_size, &s.options))
        }
        "/v3/gateway/listLock" => {
            let id = p.req_int("gatewayId")?;
            let w = inner.world();
            let s = &w.state;
            s.gateway(id).ok_or(-4037)?;
            let now = s.now_ms();
            let mut list: Vec<Value> = s
                .locks
                .iter()
                .filter_map(|l| {
                    let rssi = l
                        .gateways_by_signal()
                        .into_iter()
                        .find(|&(g, _)| g == id)?
                        .1;
                    Some(json!({
                        "lockId": l.lock_id, "lockMac": mac(0x5A, l.lock_id),
                        "lockName": lock_name(l.lock_id), "lockAlias": l.alias,
                        "rssi": rssi, "updateDate": now - 60_000,
                    }))
                })
                .collect();
            shape_items(&mut list, &s.options);
            Ok(json!({ "list": list }).to_string())
        }
        "/v3/lockRecord/list" => {
            let id = p.req_int("lockId")?;
            let page_no = p.int_in("pageNo", None, 1, i64::MAX)?;
            let page_size = p.int_in("pageSize", None, 1, 200)?;
            let from = p.int("startDate")?.unwrap_or(i64::MIN);
            let to = p.int("endDate")?.unwrap_or(i64::MAX);
            let rtype = p.int("recordType")?;
            let w = inner.world();
            let s = &w.state;
            s.lock(id).ok_or(-1003)?;
            let without_id = s.records_without_id(id);
            // Only what has reached the cloud (server date passed), newest first by lock time.
            let items: Vec<Value> = s
                .listed_records(id)
                .into_iter()
                .filter(|r| r.lock_date_ms >= from && r.lock_date_ms <= to)
                .filter(|r| rtype.is_none_or(|t| r.record_type == t))
                .map(|r| {
                    let mut item = json!({
                        "recordId": r.record_id, "lockId": id,
                        "recordTypeFromLock": r.record_type_from_lock,
                        "recordType": r.record_type, "success": r.success,
                        "username": r.username, "keyboardPwd": r.keyboard_pwd,
                        "lockDate": r.lock_date_ms, "serverDate": r.server_date_ms,
                    });
                    if without_id.contains(&r.record_id) {
                        item.as_object_mut().expect("an object").remove("recordId");
                    }
                    item
                })
                .collect();
            Ok(page(items, page_no, page_size, &s.options))
        }
        _ => Err(-3),
    }
}

/// Bits 0 passcode, 1 card, 2 fingerprint, 4 auto-lock, 7 passcode management, 8 remote lock,
/// 10 gateway unlock, 12 cyclic codes, 14 remote unlock switch, 22 passage mode.
const FEATURE_VALUE: &str = "405597";

fn lock_name(id: i64) -> String {
    format!("S31_{:06x}", id & 0xff_ffff)
}

fn mac(prefix: u8, id: i64) -> String {
    let b = id.to_be_bytes();
    format!(
        "{prefix:02X}:{:02X}:{:02X}:{:02X}:{:02X}:{:02X}",
        b[3], b[4], b[5], b[6], b[7]
    )
}

/// TTLock's paged answer: `list, pageNo, pageSize, pages, total`.
fn page(mut items: Vec<Value>, page_no: i64, page_size: i64, options: &Options) -> String {
    let total = items.len() as i64;
    let pages = (total + page_size - 1) / page_size;
    let start = (page_no - 1).saturating_mul(page_size).min(total) as usize;
    let end = (start + page_size as usize).min(items.len());
    let mut list: Vec<Value> = items.drain(start..end).collect();
    shape_items(&mut list, options);
    json!({
        "list": list, "pageNo": page_no, "pageSize": page_size, "pages": pages, "total": total,
    })
    .to_string()
}

/// Fields real answers leave out (`real_shapes`): TTLock's list items carry them only sometimes.
const OPTIONAL_ITEM_FIELDS: &[&str] = &["isCustom", "gatewayName", "recordId"];

/// The items as the options shape them: `numbers_as_strings` turns every numeric field into a
/// string, as the docs' example shows `"keyboardPwdType": "3"`; `real_shapes` leaves the
/// optional fields out, sends `keyboardPwdType` as a string, and every other item's numbers as
/// strings.
fn shape_items(items: &mut [Value], options: &Options) {
    for (i, item) in items.iter_mut().enumerate() {
        let Value::Object(m) = item else { continue };
        let all_strings = options.numbers_as_strings || (options.real_shapes && i % 2 == 1);
        if options.real_shapes {
            for k in OPTIONAL_ITEM_FIELDS {
                m.remove(*k);
            }
            if let Some(Value::Number(n)) = m.get("keyboardPwdType") {
                let t = Value::String(n.to_string());
                m.insert("keyboardPwdType".into(), t);
            }
        }
        if all_strings {
            for v in m.values_mut() {
                if let Value::Number(n) = v {
                    *v = Value::String(n.to_string());
                }
            }
        }
    }
}

/// A cloud-only operation: check, then act, under the lock.
fn in_cloud(
    inner: &Inner,
    check: impl Fn(&State) -> Result<(), i64>,
    act: impl FnOnce(&mut State) -> Outcome,
) -> Outcome {
    let mut w = inner.world();
    check(&w.state)?;
    act(&mut w.state)
}

/// An operation that reaches the lock through its best-signal online gateway: the gateway is held
/// for `gateway_hold_ms` (without the state lock); a concurrent one gets -3003 at once.
fn via_gateway(
    inner: &Inner,
    lock_id: i64,
    check: impl Fn(&State) -> Result<(), i64>,
    act: impl FnOnce(&mut State) -> Outcome,
) -> Outcome {
    let (gw, hold) = {
        let mut guard = inner.world();
        let w = &mut *guard;
        let lock = w.state.lock(lock_id).ok_or(-1003)?;
        check(&w.state)?;
        if lock.gateway_ids.is_empty() {
            return Err(-2012);
        }
        // TTLock sends through the best-signal gateway (ttlock-api.md §6.2).
        let gw = lock
            .gateways_by_signal()
            .into_iter()
            .map(|(g, _)| g)
            .find(|g| w.state.gateway(*g).is_some_and(|g| g.online))
            .ok_or(-3002)?;
        let n = w.in_flight.entry(gw).or_default();
        *n += 1;
        let now = *n;
        let max = w.counters.max_in_flight_per_gateway.entry(gw).or_default();
        *max = (*max).max(now);
        if now > 1 {
            *w.in_flight.get_mut(&gw).expect("counted above") -= 1;
            w.counters.gateway_busy_sent += 1;
            return Err(-3003);
        }
        (gw, w.state.options.gateway_hold_ms)
    };
    let completed = inner.sleep_ms(hold);
    let mut guard = inner.world();
    let w = &mut *guard;
    if let Some(n) = w.in_flight.get_mut(&gw) {
        *n = n.saturating_sub(1);
    }
    if !completed {
        // The simulator is stopping; the connection is being closed anyway.
        return Err(90000);
    }
    // The state may have changed during the hold (e.g. a cloud-only add of the same code).
    w.state.lock(lock_id).ok_or(-1003)?;
    // The gateway reached the lock: records the lock kept (keypad openings while it had no
    // online gateway) come up with it.
    w.state.upload_records(lock_id);
    check(&w.state)?;
    act(&mut w.state)
}

fn valid_code(code: &str) -> bool {
    (4..=9).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit())
}

fn add_passcode(inner: &Inner, p: &Params, user: &str) -> Outcome {
    let lock_id = p.req_int("lockId")?;
    let code = p.req_str("keyboardPwd")?.to_string();
    let name = p.str("keyboardPwdName").unwrap_or("").to_string();
    let kind = p.int("keyboardPwdType")?.unwrap_or(TYPE_PERIOD);
    let (start, end) = match kind {
        TYPE_PERMANENT => (0, 0),
        TYPE_PERIOD => {
            let (s, e) = (p.req_int("startDate")?, p.req_int("endDate")?);
            if e <= s {
                return Err(-3);
            }
            (s, e)
        }
        _ => return Err(-3),
    };
    let add_type = p.int_in("addType", Some(1), 1, 2)?;
    let check = |s: &State| -> Result<(), i64> {
        let l = s.lock(lock_id).ok_or(-1003)?;
        if !valid_code(&code) {
            return Err(-3006);
        }
        if l.passcode_by_code(&code).is_some() {
            return Err(-3007);
        }
        if l.custom_count() >= s.options.custom_passcode_limit {
            return Err(-3009);
        }
        Ok(())
    };
    let act = |s: &mut State| -> Outcome {
        let id = s.next_passcode_id();
        let now = s.now_ms();
        let l = s.lock_mut(lock_id).ok_or(-1003)?;
        l.passcodes.push(Passcode {
            keyboard_pwd_id: id,
            create_ms: now,
            r#type: kind,
            sender_username: user.to_string(),
            ..Passcode::period(&code, &name, start, end)
        });
        if add_type == 1 {
            // Recorded in the cloud only: the lock never gets it (ttlock-api.md §3.1, §10.7).
            l.added_in_cloud_only(id);
        }
        Ok(json!({ "keyboardPwdId": id }).to_string())
    };
    if add_type == 2 {
        via_gateway(inner, lock_id, check, act)
    } else {
        in_cloud(inner, check, act)
    }
}

fn get_passcode(inner: &Inner, p: &Params, user: &str) -> Outcome {
    let lock_id = p.req_int("lockId")?;
    let kind = p.int_in("keyboardPwdType", None, 1, 14)?;
    let name = p.str("keyboardPwdName").unwrap_or("").to_string();
    // Random codes have whole-hour validity: start and end are rounded down.
    let start = p.req_int("startDate")?.div_euclid(3_600_000) * 3_600_000;
    let end = match (kind, p.int("endDate")?) {
        (1, _) => start + 6 * 3_600_000,
        (2 | 4, _) => 0,
        (_, Some(e)) if e > start => e.div_euclid(3_600_000) * 3_600_000,
        _ => return Err(-3),
    };
    // No gateway: the lock computes the same codes with the algorithm it shares with the cloud.
    in_cloud(
        inner,
        |s| {
            let l = s.lock(lock_id).ok_or(-1003)?;
            // The algorithm gives one code per validity (200 one-time, 20 permanent codes per
            // start time); asking again, even after a delete, is -1026.
            if l.random_issued(kind, start, end) >= random_codes_per_validity(kind) {
                return Err(-1026);
            }
            Ok(())
        },
        |s| {
            let id = s.next_passcode_id();
            let now = s.now_ms();
            let lock = s.lock_mut(lock_id).ok_or(-1003)?;
            let code = loop {
                let c = random_digits(7);
                if !lock.code_in_use(&c) {
                    break c;
                }
            };
            lock.passcodes.push(Passcode {
                keyboard_pwd_id: id,
                r#type: kind,
                is_custom: false,
                create_ms: now,
                sender_username: user.to_string(),
                ..Passcode::period(&code, &name, start, end)
            });
            lock.issued_random(id);
            Ok(json!({ "keyboardPwd": code, "keyboardPwdId": id }).to_string())
        },
    )
}

fn change_passcode(inner: &Inner, p: &Params) -> Outcome {
    let lock_id = p.req_int("lockId")?;
    let pwd_id = p.req_int("keyboardPwdId")?;
    let name = p.str("keyboardPwdName").map(str::to_string);
    let new_code = p.str("newKeyboardPwd").map(str::to_string);
    let window = match (p.int("startDate")?, p.int("endDate")?) {
        (None, None) => None,
        (Some(s), Some(e)) if e > s => Some((s, e)),
        _ => return Err(-3),
    };
    let change_type = p.int_in("changeType", Some(1), 1, 2)?;
    let touches_lock = new_code.is_some() || window.is_some();
    let check = |s: &State| -> Result<(), i64> {
        let l = s.lock(lock_id).ok_or(-1003)?;
        let q = l.passcode(pwd_id).ok_or(-2009)?;
        // A random code the lock has never seen used cannot be changed (ttlock-api.md §3.3).
        let used = l.keypad_entry(pwd_id).is_some_and(|k| k.first_use_ms != 0);
        if touches_lock && !q.is_custom && !used {
            return Err(-3008);
        }
        if let Some(c) = &new_code {
            if !valid_code(c) {
                return Err(-3006);
            }
            if l.passcodes
                .iter()
                .any(|q| q.keyboard_pwd == *c && q.keyboard_pwd_id != pwd_id)
            {
                return Err(-3007);
            }
        }
        Ok(())
    };
    // Renaming is cloud data; only a new code or window has to reach the lock.
    let remote = change_type == 2 && touches_lock;
    let act = |s: &mut State| -> Outcome {
        let l = s.lock_mut(lock_id).ok_or(-1003)?;
        if touches_lock && !remote {
            // changeType 1: the cloud's list changes, the lock keeps its version.
            l.before_cloud_only_change(pwd_id);
        }
        let q = l
            .passcodes
            .iter_mut()
            .find(|q| q.keyboard_pwd_id == pwd_id)
            .ok_or(-2009)?;
        if let Some(n) = name {
            q.name = n;
        }
        if let Some(c) = &new_code {
            q.keyboard_pwd = c.clone();
        }
        if let Some((start, end)) = window {
            q.start_ms = start;
            q.end_ms = end;
            if q.r#type == TYPE_PERMANENT {
                q.r#type = TYPE_PERIOD;
            }
        }
        if remote {
            l.written_to_lock(pwd_id);
        }
        Ok(OK_BODY.to_string())
    };
    if remote {
        via_gateway(inner, lock_id, check, act)
    } else {
        in_cloud(inner, check, act)
    }
}

fn delete_passcode(inner: &Inner, p: &Params) -> Outcome {
    let lock_id = p.req_int("lockId")?;
    let pwd_id = p.req_int("keyboardPwdId")?;
    let delete_type = p.int_in("deleteType", Some(1), 1, 2)?;
    let check = |s: &State| -> Result<(), i64> {
        s.lock(lock_id)
            .ok_or(-1003)?
            .passcode(pwd_id)
            .ok_or(-2009)?;
        Ok(())
    };
    let act = |s: &mut State| -> Outcome {
        // deleteType 1 leaves the lock's version in place (a random code keeps opening until
        // its end).
        s.lock_mut(lock_id)
            .ok_or(-1003)?
            .delete_code(pwd_id, delete_type == 2);
        Ok(OK_BODY.to_string())
    };
    if delete_type == 2 {
        via_gateway(inner, lock_id, check, act)
    } else {
        in_cloud(inner, check, act)
    }
}

fn list_passcodes(inner: &Inner, p: &Params) -> Outcome {
    let lock_id = p.req_int("lockId")?;
    let page_no = p.int_in("pageNo", None, 1, i64::MAX)?;
    let page_size = p.int_in("pageSize", None, 1, 200)?;
    // Documented as required, but hass-ttlock omits it and it works: default creation desc.
    let order_by = p.int_in("orderBy", Some(1), 0, 2)?;
    let search = p.str("searchStr").map(str::to_string);
    let w = inner.world();
    let s = &w.state;
    let l = s.lock(lock_id).ok_or(-1003)?;
    let mut codes: Vec<&Passcode> = l
        .passcodes
        .iter()
        .filter(|q| match &search {
            // Fuzzy on the name, exact on the code.
            Some(t) => q.name.to_lowercase().contains(&t.to_lowercase()) || q.keyboard_pwd == *t,
            None => true,
        })
        .collect();
    match order_by {
        0 => codes.sort_by(|a, b| {
            a.name
                .cmp(&b.name)
                .then(a.keyboard_pwd_id.cmp(&b.keyboard_pwd_id))
        }),
        2 => codes.sort_by(|a, b| {
            b.name
                .cmp(&a.name)
                .then(b.keyboard_pwd_id.cmp(&a.keyboard_pwd_id))
        }),
        _ => codes.sort_by(|a, b| {
            b.create_ms
                .cmp(&a.create_ms)
                .then(b.keyboard_pwd_id.cmp(&a.keyboard_pwd_id))
        }),
    }
    let items = codes
        .into_iter()
        .map(|q| {
            json!({
                "keyboardPwdId": q.keyboard_pwd_id, "lockId": lock_id,
                "keyboardPwd": q.keyboard_pwd, "keyboardPwdName": q.name,
                "keyboardPwdType": q.r#type, "startDate": q.start_ms, "endDate": q.end_ms,
                "sendDate": q.create_ms, "isCustom": i64::from(q.is_custom),
                "status": q.status, "senderUsername": q.sender_username,
                "keyboardPwdVersion": 4,
            })
        })
        .collect();
    Ok(page(items, page_no, page_size, &s.options))
}

fn lock_or_unlock(inner: &Inner, p: &Params, user: &str, open_state: i64) -> Outcome {
    let lock_id = p.req_int("lockId")?;
    via_gateway(
        inner,
        lock_id,
        |s| {
            if s.lock(lock_id).is_some_and(|l| !l.remote_unlock) {
                Err(-4043)
            } else {
                Ok(())
            }
        },
        |s| {
            let now = s.now_ms();
            s.lock_mut(lock_id).ok_or(-1003)?.open_state = open_state;
            if open_state == 1 {
                // The gateway that carried the command carries the record back, after the
                // upload delay.
                let r = Record {
                    record_id: 0,
                    record_type: OpenedBy::Remote.record_type(),
                    record_type_from_lock: OpenedBy::Remote.record_type_from_lock(true),
                    success: 1,
                    username: user.to_string(),
                    keyboard_pwd: String::new(),
                    lock_date_ms: now,
                    server_date_ms: 0,
                };
                s.deliver_record(lock_id, r, &EventOptions::default(), true);
            }
            Ok(OK_BODY.to_string())
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errcode_bodies_are_spelled_like_ttlock() {
        assert_eq!(
            errcode_body(10004),
            r#"{"errcode":10004,"errmsg":"invalid grant","description":"token无授权，token已失效或被撤销授权"}"#
        );
        let v: Value = serde_json::from_str(&errcode_body(-3003)).unwrap();
        assert_eq!(v["errcode"], -3003);
        let v: Value = serde_json::from_str(OK_BODY).unwrap();
        assert_eq!(v["errcode"], 0);
    }

    #[test]
    fn feature_value_has_the_documented_bits() {
        let v = u64::from_str_radix(FEATURE_VALUE, 16).unwrap();
        for bit in [0, 1, 2, 4, 7, 8, 10, 12, 14, 22] {
            assert!(v & (1 << bit) != 0, "bit {bit}");
        }
    }

    #[test]
    fn real_shapes_leave_optional_fields_out() {
        let items: Vec<Value> = (0..4)
            .map(|i| json!({ "keyboardPwdId": i, "isCustom": 1, "keyboardPwdType": 3, "gatewayName": "g", "recordId": i }))
            .collect();
        let real = Options {
            real_shapes: true,
            ..Options::default()
        };
        let v: Value = serde_json::from_str(&page(items, 1, 200, &real)).unwrap();
        let list = v["list"].as_array().unwrap();
        for (i, it) in list.iter().enumerate() {
            for k in OPTIONAL_ITEM_FIELDS {
                assert!(it.get(*k).is_none(), "{k} in {it}");
            }
            assert_eq!(it["keyboardPwdType"], "3");
            assert_eq!(it["keyboardPwdId"].is_string(), i % 2 == 1, "{it}");
        }
    }

    #[test]
    fn pages_and_strings() {
        let items: Vec<Value> = (0..450).map(|i| json!({ "n": i, "s": "x" })).collect();
        let v: Value =
            serde_json::from_str(&page(items.clone(), 3, 200, &Options::default())).unwrap();
        assert_eq!(v["list"].as_array().unwrap().len(), 50);
        assert_eq!(
            (v["pages"].as_i64(), v["total"].as_i64()),
            (Some(3), Some(450))
        );
        assert_eq!(v["list"][0]["n"], 400);
        let v: Value =
            serde_json::from_str(&page(items.clone(), 4, 200, &Options::default())).unwrap();
        assert!(v["list"].as_array().unwrap().is_empty());
        let strings = Options {
            numbers_as_strings: true,
            ..Options::default()
        };
        let v: Value = serde_json::from_str(&page(items, 1, 200, &strings)).unwrap();
        assert_eq!(v["list"][5]["n"], "5");
        assert_eq!(v["pageNo"], 1, "page fields stay numbers");
        let v: Value = serde_json::from_str(&page(Vec::new(), 1, 20, &Options::default())).unwrap();
        assert_eq!(
            (v["pages"].as_i64(), v["total"].as_i64()),
            (Some(0), Some(0))
        );
    }
}
