//! DNS cookies (RFC 7873) with interoperable server cookies (RFC 9018).
//!
//! A client sends an 8-byte client cookie in the EDNS COOKIE option, alone on its first query
//! and followed by the server cookie it learned on the next ones. The server cookie is RFC 9018
//! §4's: version 1, three reserved bytes, the time it was made (seconds since the epoch) and
//! SipHash-2-4, keyed with a 16-byte secret, of the client cookie, those eight bytes and the
//! client's address. A valid server cookie proves that the client saw an earlier answer at its
//! address, so the address is not spoofed: the handler exempts such queries from response rate
//! limiting.
//!
//! The secret is made at start (random) and replaced daily; the previous one still validates
//! (RFC 9018 §4.4 rolls the secret over with a period where both are accepted). A cookie whose
//! timestamp is more than an hour old or five minutes in the future is not valid (§4.3).
//!
//! daned does not require cookies: a query without one, or with a server cookie that does not
//! validate, is answered normally with a fresh server cookie (RFC 7873 §5.2.3, §5.2.4), just
//! not exempted from rate limiting. A COOKIE option of a length RFC 7873 §5.2.2 rules out gets
//! FORMERR.

use std::hash::Hasher;
use std::net::IpAddr;
use std::sync::Mutex;

use siphasher::sip::SipHasher24;

/// The EDNS option code of COOKIE (RFC 7873 §4).
pub(crate) const COOKIE_OPTION: u16 = 10;
/// How often the server secret is replaced (the previous one keeps validating).
pub(crate) const SECRET_LIFETIME: u64 = 24 * 3600;
/// RFC 9018 §4.3: "the server MUST consider cookies with timestamps ... older than 1 hour as
/// expired".
const MAX_AGE: u64 = 3600;
/// RFC 9018 §4.3: cookies more than 5 minutes in the future are not accepted.
const MAX_FUTURE: u64 = 300;
/// RFC 9018 §4.3: a valid cookie older than half an hour is replaced by a fresh one.
const RENEW_AFTER: u64 = 1800;

/// Why a COOKIE option is malformed (RFC 7873 §5.2.2: FORMERR).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a COOKIE option of {0} bytes (8, or 16 to 40)")]
pub struct MalformedCookie(pub usize);

/// A request's COOKIE option, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestCookie<'a> {
    /// The client cookie.
    pub client: [u8; 8],
    /// The server cookie the client sent back, if any (8 to 32 bytes).
    pub server: Option<&'a [u8]>,
}

impl<'a> RequestCookie<'a> {
    /// Parses the option data. RFC 7873 §5.2.2: "If the COOKIE option is too short to contain
    /// a Client Cookie, or is too long, or the length of the Server Cookie ... is not between
    /// 8 and 32 ... the server MUST ... return FORMERR".
    ///
    /// # Errors
    ///
    /// [`MalformedCookie`] with the option's length.
    pub fn parse(data: &'a [u8]) -> Result<Self, MalformedCookie> {
        let len = data.len();
        if !(len == 8 || (16..=40).contains(&len)) {
            return Err(MalformedCookie(len));
        }
        let (client, server) = data.split_at(8);
        let client = client.try_into().map_err(|_| MalformedCookie(len))?;
        Ok(Self {
            client,
            server: (!server.is_empty()).then_some(server),
        })
    }
}

/// What the handler does with a request's cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieAnswer {
    /// Whether the request carried a server cookie that this server made for this client.
    pub valid: bool,
    /// The COOKIE option data for the response: the client cookie and a server cookie.
    pub option: Vec<u8>,
}

/// The server secrets: the current one and the one before it, shared by every handler.
#[derive(Debug)]
pub struct CookieSecrets {
    state: Mutex<Secrets>,
}

#[derive(Debug, Clone, Copy)]
struct Secrets {
    current: [u8; 16],
    previous: Option<[u8; 16]>,
    /// When `current` was made (seconds since the epoch).
    made: u64,
}

impl CookieSecrets {
    /// A fresh random secret made at `now` (seconds since the epoch).
    pub fn generate(now: u64) -> Self {
        Self::with_secret(random_secret(), now)
    }

    /// `secret` as the current secret, made at `now`.
    pub fn with_secret(secret: [u8; 16], now: u64) -> Self {
        Self {
            state: Mutex::new(Secrets {
                current: secret,
                previous: None,
                made: now,
            }),
        }
    }

    /// Validates `cookie` from `client_ip` at `now` and makes the response's COOKIE option.
    /// Replaces the secret when it is older than a day.
    pub fn answer(&self, cookie: &RequestCookie<'_>, client_ip: IpAddr, now: u64) -> CookieAnswer {
        let secrets = self.current(now);
        let timestamp = u32::try_from(now).unwrap_or(u32::MAX);
        let valid_with = cookie.server.and_then(|server| {
            let server: &[u8; 16] = server.try_into().ok()?;
            if server[0] != 1 {
                return None;
            }
            let made = u64::from(u32::from_be_bytes([
                server[4], server[5], server[6], server[7],
            ]));
            if made + MAX_AGE < now || made > now + MAX_FUTURE {
                return None;
            }
            let header: [u8; 8] = server[..8].try_into().ok()?;
            let matches =
                |secret: &[u8; 16]| server[8..] == hash(secret, &cookie.client, &header, client_ip);
            if matches(&secrets.current) {
                Some((made, true))
            } else if secrets.previous.as_ref().is_some_and(matches) {
                Some((made, false))
            } else {
                None
            }
        });
        let server = match (valid_with, cookie.server) {
            // Still fresh and made with the current secret: sent back as it is.
            (Some((made, true)), Some(server)) if made + RENEW_AFTER > now => server.to_vec(),
            _ => server_cookie(&secrets.current, &cookie.client, timestamp, client_ip).to_vec(),
        };
        let mut option = Vec::with_capacity(8 + server.len());
        option.extend_from_slice(&cookie.client);
        option.extend_from_slice(&server);
        CookieAnswer {
            valid: valid_with.is_some(),
            option,
        }
    }

    /// The secrets at `now`, rolled over first when the current one is older than a day.
    fn current(&self, now: u64) -> Secrets {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if now >= state.made + SECRET_LIFETIME {
            state.previous = Some(state.current);
            state.current = random_secret();
            state.made = now;
            tracing::info!("DNS cookie secret replaced (the previous one still validates)");
        }
        *state
    }
}

/// RFC 9018 §4.2's version 1 server cookie for `client` at `timestamp`.
pub(crate) fn server_cookie(
    secret: &[u8; 16],
    client: &[u8; 8],
    timestamp: u32,
    client_ip: IpAddr,
) -> [u8; 16] {
    let mut cookie = [0u8; 16];
    cookie[0] = 1;
    cookie[4..8].copy_from_slice(&timestamp.to_be_bytes());
    let header: [u8; 8] = [
        cookie[0], cookie[1], cookie[2], cookie[3], cookie[4], cookie[5], cookie[6], cookie[7],
    ];
    cookie[8..].copy_from_slice(&hash(secret, client, &header, client_ip));
    cookie
}

/// RFC 9018 §4.4: "Hash = SipHash-2-4( Client Cookie | Version | Reserved | Timestamp |
/// Client-IP, Server Secret )", the 64-bit result in little-endian byte order (as the RFC's
/// test vectors in Appendix A have it).
fn hash(secret: &[u8; 16], client: &[u8; 8], header: &[u8; 8], client_ip: IpAddr) -> [u8; 8] {
    let mut hasher = SipHasher24::new_with_key(secret);
    hasher.write(client);
    hasher.write(header);
    match client_ip {
        IpAddr::V4(ip) => hasher.write(&ip.octets()),
        IpAddr::V6(ip) => hasher.write(&ip.octets()),
    }
    hasher.finish().to_le_bytes()
}

fn random_secret() -> [u8; 16] {
    let mut secret = [0u8; 16];
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret).is_err() {
        // The kernel's generator does not fail once the system is up; without it the cookies
        // would only be guessable, which makes them worthless rather than harmful.
        tracing::error!("no randomness for the DNS cookie secret");
    }
    secret
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    const SECRET: [u8; 16] = [
        0xe5, 0xe9, 0x73, 0xe5, 0xa6, 0xb2, 0xa4, 0x3f, 0x48, 0xe7, 0xdc, 0x84, 0x9e, 0x37, 0xbf,
        0xcf,
    ];

    fn hex(text: &str) -> Vec<u8> {
        data_encoding::HEXLOWER
            .decode(text.as_bytes())
            .expect("hex")
    }

    fn ip(text: &str) -> IpAddr {
        IpAddr::from_str(text).expect("ip")
    }

    #[test]
    fn rfc9018_appendix_a_1_learning_a_new_server_cookie() {
        let request = hex("2464c4abcf10c957");
        let cookie = RequestCookie::parse(&request).expect("client cookie only");
        assert_eq!(cookie.server, None);
        let secrets = CookieSecrets::with_secret(SECRET, 1_559_731_985);
        let answer = secrets.answer(&cookie, ip("198.51.100.100"), 1_559_731_985);
        assert!(!answer.valid);
        assert_eq!(
            answer.option,
            hex("2464c4abcf10c957010000005cf79f111f8130c3eee29480")
        );
    }

    #[test]
    fn rfc9018_appendix_a_2_the_same_client_learning_a_renewed_server_cookie() {
        let request = hex("2464c4abcf10c957010000005cf79f111f8130c3eee29480");
        let cookie = RequestCookie::parse(&request).expect("both cookies");
        let secrets = CookieSecrets::with_secret(SECRET, 1_559_731_985);
        // 40 minutes later: valid, and renewed since it is older than half an hour.
        let answer = secrets.answer(&cookie, ip("198.51.100.100"), 1_559_734_385);
        assert!(answer.valid);
        assert_eq!(
            answer.option,
            hex("2464c4abcf10c957010000005cf7a871d4a564a1442aca77")
        );
        // A minute after it was made, the same cookie comes back unchanged.
        let answer = secrets.answer(&cookie, ip("198.51.100.100"), 1_559_732_045);
        assert!(answer.valid);
        assert_eq!(answer.option, request);
        // From another address it does not validate.
        let answer = secrets.answer(&cookie, ip("198.51.100.101"), 1_559_732_045);
        assert!(!answer.valid);
    }

    #[test]
    fn rfc9018_appendix_a_3_another_client_with_nonzero_reserved_bytes() {
        let request = hex("fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5");
        let cookie = RequestCookie::parse(&request).expect("both cookies");
        let client = ip("203.0.113.203");
        // The hash covers the reserved bytes as received.
        let server = cookie.server.expect("server cookie");
        let header: [u8; 8] = server[..8].try_into().expect("8 bytes");
        assert_eq!(server[8..], hash(&SECRET, &cookie.client, &header, client));
        // Made 1 h 52 min before the query: too old to exempt (RFC 9018 §4.3), renewed.
        let secrets = CookieSecrets::with_secret(SECRET, 1_559_727_985);
        let answer = secrets.answer(&cookie, client, 1_559_734_700);
        assert!(!answer.valid);
        assert_eq!(
            answer.option,
            hex("fc93fc62807ddb86010000005cf7a9acf73a7810aca2381e")
        );
    }

    #[test]
    fn rfc9018_appendix_a_4_ipv6_query_with_rolled_over_secret() {
        let old: [u8; 16] = [
            0xdd, 0x3b, 0xdf, 0x93, 0x44, 0xb6, 0x78, 0xb1, 0x85, 0xa6, 0xf5, 0xcb, 0x60, 0xfc,
            0xa7, 0x15,
        ];
        let new: [u8; 16] = [
            0x44, 0x55, 0x36, 0xbc, 0xd2, 0x51, 0x32, 0x98, 0x07, 0x5a, 0x5d, 0x37, 0x96, 0x63,
            0xc9, 0x62,
        ];
        let request = hex("22681ab97d52c298010000005cf7c57926556bd0934c72f8");
        let cookie = RequestCookie::parse(&request).expect("both cookies");
        let client = ip("2001:db8:220:1:59de:d0f4:8769:82b8");
        let secrets = CookieSecrets {
            state: Mutex::new(Secrets {
                current: new,
                previous: Some(old),
                made: 1_559_741_900,
            }),
        };
        let answer = secrets.answer(&cookie, client, 1_559_741_961);
        assert!(answer.valid, "the previous secret still validates");
        assert_eq!(
            answer.option,
            hex("22681ab97d52c298010000005cf7c609a6bb79d16625507a")
        );
    }

    #[test]
    fn rfc9018_s4_3_expired_and_future_cookies_do_not_validate() {
        let client = [1, 2, 3, 4, 5, 6, 7, 8];
        let addr = ip("192.0.2.1");
        let secrets = CookieSecrets::with_secret(SECRET, 1_000_000);
        for (made, now, valid) in [
            (1_000_000u32, 1_000_000u32, true),
            (1_000_000, 1_000_000 + 3600, true),
            (1_000_000, 1_000_000 + 3601, false),
            (1_000_300, 1_000_000, true),
            (1_000_301, 1_000_000, false),
        ] {
            let mut option = client.to_vec();
            option.extend_from_slice(&server_cookie(&SECRET, &client, made, addr));
            let cookie = RequestCookie::parse(&option).expect("well-formed");
            assert_eq!(
                secrets.answer(&cookie, addr, u64::from(now)).valid,
                valid,
                "made {made}, now {now}"
            );
        }
    }

    #[test]
    fn rfc7873_s5_2_2_lengths_outside_8_and_16_to_40_are_malformed() {
        for len in [0, 1, 7, 9, 15, 41, 100] {
            assert_eq!(
                RequestCookie::parse(&vec![0; len]),
                Err(MalformedCookie(len))
            );
        }
        for len in [8, 16, 24, 40] {
            assert!(RequestCookie::parse(&vec![0; len]).is_ok(), "{len}");
        }
    }

    #[test]
    fn the_secret_is_replaced_daily_and_the_previous_one_still_validates() {
        let client = [9; 8];
        let addr = ip("192.0.2.1");
        let secrets = CookieSecrets::with_secret(SECRET, 0);
        let now = SECRET_LIFETIME - 10;
        let first = secrets.answer(&RequestCookie::parse(&client).expect("ok"), addr, now);
        let cookie = RequestCookie::parse(&first.option).expect("ok");
        // After the rollover, the cookie made with the old secret still validates once, and
        // the answer carries one made with the new secret.
        let later = secrets.answer(&cookie, addr, SECRET_LIFETIME + 10);
        assert!(later.valid);
        assert_ne!(later.option, first.option);
        let renewed = RequestCookie::parse(&later.option).expect("ok");
        assert!(secrets.answer(&renewed, addr, SECRET_LIFETIME + 20).valid);
    }
}
