//! Numbers as TTLock sends them: a JSON number or a numeric string, sometimes a float that holds
//! a whole number. Read by the envelope, the endpoint decoders and the token file.
use serde_json::Value;

/// Largest magnitude read as a whole number from a float: beyond it, f64 loses whole numbers.
const MAX_WHOLE_F64: f64 = 9.0e15;

/// A whole number sent as a JSON number or as a numeric string; `None` for anything else.
pub fn num_i64(v: &Value) -> Option<i64> {
    let whole =
        |f: f64| (f.is_finite() && f.fract() == 0.0 && f.abs() < MAX_WHOLE_F64).then_some(f as i64);
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().and_then(whole)),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().and_then(whole))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lenient_numbers() {
        assert_eq!(num_i64(&json!(5)), Some(5));
        assert_eq!(num_i64(&json!("42")), Some(42));
        assert_eq!(num_i64(&json!(" -3003 ")), Some(-3003));
        assert_eq!(num_i64(&json!(1790000000000.0)), Some(1_790_000_000_000));
        assert_eq!(num_i64(&json!("1.5")), None);
        assert_eq!(num_i64(&json!(null)), None);
        assert_eq!(num_i64(&json!(true)), None);
    }
}
