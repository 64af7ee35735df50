//! One TTLock endpoint: its method, path, and whether repeating it is harmless.

/// The HTTP method of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Queries: parameters in the query string.
    Get,
    /// Operations: parameters as a form body.
    Post,
}

impl Method {
    /// `GET` or `POST`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// One TTLock endpoint: how it is called and whether repeating it is harmless.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// GET for queries, form POST for operations.
    pub method: Method,
    /// From the host on, e.g. `/v3/lock/list`.
    pub path: &'static str,
    /// Repeating a request that may already have been carried out does no harm.
    pub idempotent: bool,
}

impl Endpoint {
    /// A query: GET, idempotent.
    pub const fn query(path: &'static str) -> Endpoint {
        Endpoint {
            method: Method::Get,
            path,
            idempotent: true,
        }
    }
    /// An operation: form POST.
    pub const fn operation(path: &'static str, idempotent: bool) -> Endpoint {
        Endpoint {
            method: Method::Post,
            path,
            idempotent,
        }
    }
    /// `/v3` calls carry `clientId`, `accessToken` and `date`.
    pub fn is_v3(&self) -> bool {
        self.path.starts_with("/v3/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_kinds() {
        let q = Endpoint::query("/v3/lock/list");
        assert!(q.idempotent && q.is_v3() && q.method == Method::Get);
        let o = Endpoint::operation("/oauth2/token", false);
        assert!(!o.idempotent && !o.is_v3() && o.method == Method::Post);
    }
}
