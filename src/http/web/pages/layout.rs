//! The HTML shell every page shares, and the helpers that turn markup into responses.
//!
//! Pages are plain HTML with a small inline stylesheet: no scripts, no external assets, readable
//! without CSS. Every input has a visible label, focus is outlined, colours keep a contrast ratio
//! above 4.5:1. The security headers are added to every page response by [`crate::http::web::page`].

use maud::{DOCTYPE, Markup, PreEscaped, html};
use poem::http::StatusCode;
use poem::http::header::{CONTENT_TYPE, LOCATION, SET_COOKIE};
use poem::web::cookie::Cookie;
use poem::{IntoResponse, Response};

use crate::http::web::csrf::CSRF_FIELD;

/// The inline stylesheet (allowed by the CSP's `style-src 'unsafe-inline'`).
const STYLE: &str = r#"
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; line-height: 1.5;
  color: #1a1a1a; background: #f6f7f9; margin: 0; }
header { background: #1f3a5f; color: #fff; padding: .75rem 1.5rem; display: flex;
  justify-content: space-between; align-items: center; }
header a, header .brand { color: #fff; font-weight: 600; text-decoration: none; }
header form { margin: 0; }
main { max-width: 46rem; margin: 1.5rem auto; padding: 0 1rem; }
section { background: #fff; border: 1px solid #d5d9e0; border-radius: 6px; padding: 1rem 1.25rem;
  margin-bottom: 1.25rem; }
h1 { font-size: 1.6rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.2rem; margin: 0 0 .75rem; }
label { display: block; font-weight: 600; margin: .75rem 0 .25rem; }
fieldset { border: 1px solid #d5d9e0; border-radius: 4px; margin: .75rem 0; }
fieldset label { display: inline; font-weight: normal; margin: 0 0 0 .25rem; }
input[type=text], input[type=email], input[type=password], select { width: 100%; padding: .5rem;
  font-size: 1rem; border: 1px solid #6b7280; border-radius: 4px; background: #fff; color: #1a1a1a; }
button, .button { display: inline-block; padding: .5rem 1rem; font-size: 1rem; border-radius: 4px;
  border: 1px solid #1f3a5f; background: #1f3a5f; color: #fff; cursor: pointer; text-decoration: none;
  margin-top: .75rem; }
button.secondary, .button.secondary { background: #fff; color: #1f3a5f; }
button.danger { background: #fff; color: #a4161a; border-color: #a4161a; margin-top: 0; }
a { color: #1f4e8c; }
:focus-visible { outline: 3px solid #d97706; outline-offset: 2px; }
.error { background: #fdecea; border: 1px solid #a4161a; color: #7a0f12; padding: .75rem 1rem;
  border-radius: 4px; margin-bottom: 1rem; }
.notice { background: #e7f3ea; border: 1px solid #2e7d32; color: #1b4d20; padding: .75rem 1rem;
  border-radius: 4px; margin-bottom: 1rem; }
.secret { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 1rem; word-break: break-all;
  background: #fff8e1; border: 1px dashed #8a6d00; padding: .75rem; border-radius: 4px; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: .4rem .5rem; border-bottom: 1px solid #e3e6eb; vertical-align: top; }
.muted { color: #4b5563; }
code { font-family: ui-monospace, Menlo, Consolas, monospace; }
form.inline { display: inline; }
"#;

/// A complete page: `title` in the tab and as the `h1`, `body` below it. `user` is the signed-in
/// user's name for the header (with a logout button, which needs `csrf`).
pub fn page(title: &str, signed_in: Option<(&str, &str)>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · authx" }
                link rel="icon" type="image/svg+xml" href="/favicon.svg";
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    a.brand href="/" { "authx" }
                    @if let Some((name, csrf)) = signed_in {
                        form method="post" action="/logout" {
                            span { "Signed in as " strong { (name) } " " }
                            (csrf_field(csrf))
                            button.secondary type="submit" { "Log out" }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// The site icon: the header's colours, a key shape, as SVG (served from the binary, no asset
/// pipeline).
const FAVICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#1f3a5f"/><circle cx="12" cy="16" r="6" fill="none" stroke="#fff" stroke-width="3"/><path d="M18 16h10M24 16v5M28 16v4" stroke="#fff" stroke-width="3" stroke-linecap="round"/></svg>"##;

/// `GET /favicon.svg` and `GET /favicon.ico` (browsers ask for the latter on their own).
#[poem::handler]
pub fn favicon() -> Response {
    Response::builder()
        .header(CONTENT_TYPE, "image/svg+xml")
        .header(poem::http::header::CACHE_CONTROL, "public, max-age=86400")
        .body(FAVICON)
}

/// The hidden CSRF field every form carries.
pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(token); }
}

/// An error box, announced to screen readers.
pub fn error_box(message: &str) -> Markup {
    html! { div.error role="alert" { (message) } }
}

/// A success box.
pub fn notice_box(message: &str) -> Markup {
    html! { div.notice role="status" { (message) } }
}

/// An HTML response with `status`, setting `cookies` (a new CSRF cookie, a session cookie).
pub fn html_response(status: StatusCode, markup: Markup, cookies: &[Cookie]) -> Response {
    let mut response = Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "text/html; charset=utf-8")
        .body(markup.into_string());
    for cookie in cookies {
        append_cookie(&mut response, cookie);
    }
    response
}

/// A `303 See Other` to `location` (a local path), setting `cookies`.
pub fn see_other(location: &str, cookies: &[Cookie]) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = location.parse() {
        response.headers_mut().insert(LOCATION, value);
    }
    for cookie in cookies {
        append_cookie(&mut response, cookie);
    }
    response
}

/// Adds a `Set-Cookie` header for `cookie`.
pub fn append_cookie(response: &mut Response, cookie: &Cookie) {
    if let Ok(value) = cookie.to_string().parse() {
        response.headers_mut().append(SET_COOKIE, value);
    }
}

/// Formats a Unix time as `YYYY-MM-DD HH:MM UTC`.
pub fn datetime(unix: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute()
        ),
        Err(_) => unix.to_string(),
    }
}
