//! A staff member's browser on the admin listener: sign-in, the session
//! cookie and its CSRF token, through real HTTP.

use std::time::Duration;

pub const PASSWORD: &str = "venue staff 2026";

pub fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .tls_config(super::tls::any_kiosk())
        .redirects(0)
        .timeout(Duration::from_secs(60))
        .build()
}

/// Status, body and the `name=value` of every Set-Cookie.
pub fn send(req: ureq::Request, form: Option<&[(&str, &str)]>) -> (u16, String, Vec<String>) {
    let result = match form {
        Some(pairs) => req.send_form(pairs),
        None => req.call(),
    };
    let res = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("transport error: {e}"),
    };
    let cookies = res
        .all("Set-Cookie")
        .iter()
        .filter_map(|c| c.split(';').next().map(str::to_string))
        .collect();
    let status = res.status();
    (status, res.into_string().unwrap_or_default(), cookies)
}

/// The value after `marker` up to the next quote or ampersand.
pub fn find_after<'a>(html: &'a str, marker: &str) -> Option<&'a str> {
    let start = html.find(marker)? + marker.len();
    let rest = &html[start..];
    let end = rest.find(['"', '&']).unwrap_or(rest.len());
    Some(&rest[..end])
}

/// A staff member's browser: the session cookie and its CSRF token.
pub struct Staff {
    pub base: String,
    pub cookie: String,
    pub csrf: String,
}

impl Staff {
    /// First boot: the setup screen (loopback only) sets the password.
    pub fn setup(base: &str) -> Self {
        let (s, html, cookies) = send(agent().get(&format!("{base}/admin/setup")), None);
        assert_eq!(s, 200, "{html}");
        let token = find_after(&html, "name=\"csrf\" value=\"").expect("form token");
        let (s, body, cookies) = send(
            agent()
                .post(&format!("{base}/admin/setup"))
                .set("Cookie", &cookies.join("; ")),
            Some(&[("password", PASSWORD), ("again", PASSWORD), ("csrf", token)]),
        );
        assert_eq!(s, 303, "{body}");
        Self::from_cookies(base, &cookies)
    }

    pub fn login(base: &str, password: &str) -> Result<Self, (u16, String)> {
        let (s, html, cookies) = send(agent().get(&format!("{base}/admin/login")), None);
        assert_eq!(s, 200, "{html}");
        let token = find_after(&html, "name=\"csrf\" value=\"").expect("form token");
        let (s, body, cookies) = send(
            agent()
                .post(&format!("{base}/admin/login"))
                .set("Cookie", &cookies.join("; ")),
            Some(&[("password", password), ("csrf", token)]),
        );
        if s != 303 {
            return Err((s, body));
        }
        Ok(Self::from_cookies(base, &cookies))
    }

    pub fn from_cookies(base: &str, cookies: &[String]) -> Self {
        let cookie = cookies
            .iter()
            .find(|c| c.starts_with("smileloop_staff="))
            .expect("a session cookie")
            .clone();
        let mut staff = Self {
            base: base.to_string(),
            cookie,
            csrf: String::new(),
        };
        let (s, html) = staff.get("/admin/settings");
        assert_eq!(s, 200, "{html}");
        staff.csrf = find_after(&html, "?csrf=").expect("csrf").to_string();
        assert_eq!(staff.csrf.len(), 64);
        staff
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        let (s, b, _) = send(
            agent()
                .get(&format!("{}{path}", self.base))
                .set("Cookie", &self.cookie),
            None,
        );
        (s, b)
    }

    /// A form POST with the session's CSRF token.
    pub fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let sep = if path.contains('?') { '&' } else { '?' };
        self.post_raw(&format!("{path}{sep}csrf={}", self.csrf), form)
    }

    pub fn post_raw(&self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let (s, b, _) = send(
            agent()
                .post(&format!("{}{path}", self.base))
                .set("Cookie", &self.cookie),
            Some(form),
        );
        (s, b)
    }
}
