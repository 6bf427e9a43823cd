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
    #[arg(long, env = "DEFENDER_MOCK_SIGNING_KEY")]
    pub signing_key: Option<PathBuf>,
}

/// The token `args` describe, signed.
pub fn token(args: TokenArgs) -> Result<String, StartupError> {
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
