//! `token`: a signed access token the emulator accepts, from flags.

use super::*;

/// The longest `token --ttl`, either way: ten years.
const MAX_TTL: i64 = 10 * 365 * 86_400;

/// Flags of `token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// App roles, comma-separated (default: every Machine.* role).
    #[arg(long, value_delimiter = ',')]
    pub roles: Option<Vec<String>>,
    /// Delegated scopes, space-separated; makes it a user token.
    #[arg(long)]
    pub scp: Option<String>,
    /// The user's UPN; makes it a user token.
    #[arg(long)]
    pub upn: Option<String>,
    /// Tenant id (`tid`).
    #[arg(long, default_value = dev::TENANT_ID)]
    pub tenant: String,
    /// Client app id (`appid`/`azp`).
    #[arg(long, default_value = dev::APP_ID)]
    pub app_id: String,
    /// App display name (`app_displayname`): the `requestor` of its actions.
    #[arg(long)]
    pub app_name: Option<String>,
    /// `aud` (default: `https://api.securitycenter.microsoft.com`, or the MDE appId with --v2).
    #[arg(long)]
    pub audience: Option<String>,
    /// Lifetime in seconds from now (negative: already expired; at most ten years either way).
    #[arg(long, default_value_t = 3599, allow_negative_numbers = true,
          value_parser = clap::value_parser!(i64).range(-MAX_TTL..=MAX_TTL))]
    pub ttl: i64,
    /// Mint a v2.0-shaped token.
    #[arg(long)]
    pub v2: bool,
    /// RSA private key (PEM) to sign with.
    #[arg(long, env = "DEFENDER_MOCK_SIGNING_KEY", conflicts_with = "server")]
    pub signing_key: Option<PathBuf>,
    /// A running emulator (`http://HOST:PORT`): the token is minted there, with its key and at
    /// its clock (`POST /_mock/token`), so it stays valid after `clock/advance`.
    #[arg(long, env = "DEFENDER_MOCK_SERVER")]
    pub server: Option<String>,
    /// The emulator's --admin-token, when its control plane is protected.
    #[arg(long, env = "DEFENDER_MOCK_ADMIN_TOKEN", requires = "server")]
    pub admin_token: Option<String>,
}

/// The token `args` describe, signed (by the running emulator with `--server`).
pub fn token(args: TokenArgs) -> Result<String, StartupError> {
    if let Some(server) = args.server.clone() {
        return from_server(&server, &args);
    }
    let keys =
        Keys::load(args.signing_key.as_deref()).map_err(|reason| StartupError::SigningKey {
            path: args.signing_key.clone().unwrap_or_default(),
            reason,
        })?;
    let delegated = args.scp.is_some() || args.upn.is_some();
    let app_name = args
        .app_name
        .or_else(|| (args.app_id == dev::APP_ID).then(|| dev::APP_NAME.to_owned()));
    let spec = TokenSpec {
        tenant: args.tenant,
        app_id: args.app_id,
        app_name,
        roles: args.roles.unwrap_or_else(all_roles),
        scp: delegated.then(|| args.scp.unwrap_or_else(|| all_scopes().join(" "))),
        upn: delegated.then(|| args.upn.unwrap_or_else(|| dev::USER_UPN.to_owned())),
        audience: args.audience,
        ttl_secs: args.ttl,
        version: if args.v2 {
            TokenVersion::V2
        } else {
            TokenVersion::V1
        },
        ..TokenSpec::default()
    };
    Ok(mint(&keys, &spec)?)
}

/// How long `token --server` waits for the emulator, in all.
const SERVER_TIMEOUT: Duration = Duration::from_secs(10);

/// The token minted by the emulator at `server` (`POST /_mock/token`), over plain HTTP/1.1.
fn from_server(server: &str, args: &TokenArgs) -> Result<String, StartupError> {
    use std::io::{Read, Write};
    let fail = |reason: String| StartupError::Server {
        server: server.to_owned(),
        reason,
    };
    let rest = server.strip_prefix("http://").ok_or_else(|| {
        fail("give the server as http://HOST:PORT (https is not supported by --server)".into())
    })?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        return Err(fail("no host in the URL".into()));
    }
    let delegated = args.scp.is_some() || args.upn.is_some();
    let mut body = serde_json::json!({
        "tenant": args.tenant,
        "appId": args.app_id,
        "ttlSeconds": args.ttl,
        "version": if args.v2 { 2 } else { 1 },
    });
    if let Some(roles) = &args.roles {
        body["roles"] = serde_json::json!(roles);
    }
    if delegated {
        let scopes: Option<Vec<&str>> = args.scp.as_deref().map(|s| s.split(' ').collect());
        if let Some(scopes) = scopes {
            body["scopes"] = serde_json::json!(scopes);
        }
        if let Some(upn) = &args.upn {
            body["user"] = serde_json::json!(upn);
        }
        if args.scp.is_none() && args.upn.is_none() {
            body["scopes"] = serde_json::json!(all_scopes());
        }
    }
    if let Some(name) = &args.app_name {
        body["appName"] = serde_json::json!(name);
    }
    if let Some(aud) = &args.audience {
        body["audience"] = serde_json::json!(aud);
    }
    let body = body.to_string();
    let addr = std::net::ToSocketAddrs::to_socket_addrs(authority)
        .map_err(|e| fail(format!("cannot resolve {authority}: {e}")))?
        .next()
        .ok_or_else(|| fail(format!("cannot resolve {authority}")))?;
    let mut tcp = std::net::TcpStream::connect_timeout(&addr, SERVER_TIMEOUT)
        .map_err(|e| fail(format!("cannot connect: {e}")))?;
    let io = |e: std::io::Error| fail(format!("no answer: {e}"));
    tcp.set_read_timeout(Some(SERVER_TIMEOUT)).map_err(io)?;
    tcp.set_write_timeout(Some(SERVER_TIMEOUT)).map_err(io)?;
    let auth = args
        .admin_token
        .as_deref()
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "POST /_mock/token HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n{auth}Connection: close\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(request.as_bytes()).map_err(io)?;
    let mut answer = Vec::new();
    tcp.take(1 << 20).read_to_end(&mut answer).map_err(io)?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, payload) = answer
        .split_once("\r\n\r\n")
        .ok_or_else(|| fail("the answer is not HTTP".into()))?;
    let status = head.split(' ').nth(1).unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(payload.trim()).unwrap_or_default();
    if status != "200" {
        let message = json["error"]["message"].as_str().unwrap_or(payload.trim());
        return Err(fail(format!("HTTP {status}: {message}")));
    }
    json["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| fail("the answer has no access_token".into()))
}
