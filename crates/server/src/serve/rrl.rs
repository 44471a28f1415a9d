//! Response rate limiting (RRL) for UDP, after NSD's `rrl.c`: responses are counted per
//! client prefix (IPv4 /24, IPv6 /64 by default), response class and name, in a fixed-size
//! table of buckets, so memory is bounded whatever the traffic.
//!
//! A bucket is keyed like NSD's: the source prefix, the class of the response (positive,
//! NODATA, NXDOMAIN, referral, ANY, RRSIG, DNSKEY, wildcard, error) and the name that class is
//! about (the query name for positive, ANY, RRSIG and DNSKEY answers; the zone for NXDOMAIN,
//! NODATA, wildcard answers and errors; the delegation for referrals), so that random names
//! under one zone share a bucket. Two keys that land on the same bucket reset it (as in NSD),
//! which can only let responses through, never block a client that is under its limit. The hash
//! is SipHash with a random key, so nobody can aim collisions at a victim's bucket.
//!
//! Counting follows NSD: `counter` is the responses of the current one-second step and `rate`
//! the smoothed count of earlier steps (`rate = rate / 2 + counter` at each step, halved again
//! for every step without traffic), and a response is over the limit once the projected rate
//! (`counter + rate / 2`, or `rate` when larger, in NSD's "twice per second" units) reaches
//! twice the limit. Unlike NSD, a bucket's steps start at its first response rather than on the
//! wall-clock second, and no step ever lets more than `limit` responses through, so a burst
//! from a cold bucket gets at most `limit` full answers in its first second (NSD's allows up to
//! twice that).
//!
//! A response over the limit is dropped, except every `slip`-th, which is sent as an empty
//! answer with TC=1 (RFC 2181 §9; the handler builds it): a real client behind a spoofed flood
//! retries over TCP and is answered there, since rate limiting applies to UDP only.
//!
//! # Limitations
//!
//! NSD's per-zone `rrl-whitelist` (a higher limit for chosen classes) is not implemented;
//! clients with a valid DNS cookie (RFC 7873) are exempt instead, which the handler decides.

use std::hash::Hasher;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::rr::Name;
use siphasher::sip::SipHasher13;

use crate::config::NetLimits;
use crate::serve::ratelog::{LOG_INTERVAL, RateLimitedLog};

/// What a response is, for rate limiting (NSD's `rrl_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseClass {
    /// NOERROR with data for the query name.
    Positive,
    /// NOERROR without data.
    NoData,
    /// NXDOMAIN.
    NxDomain,
    /// A referral to a delegation.
    Referral,
    /// An answer to a query of type ANY.
    Any,
    /// An answer to a query of type RRSIG.
    Rrsig,
    /// An answer to a query of type DNSKEY.
    Dnskey,
    /// An answer synthesised from a wildcard.
    Wildcard,
    /// Any other RCODE (REFUSED, FORMERR, NOTIMP, SERVFAIL, BADVERS, ...).
    Error,
}

/// What to do with one response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Under the limit: send it.
    Send,
    /// Over the limit: send an empty answer with TC=1 instead.
    Slip,
    /// Over the limit: send nothing.
    Drop,
}

/// The response rate limiter shared by every handler of the daemon.
#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    slip: u32,
    ipv4_mask: u32,
    ipv6_mask: u64,
    buckets: Box<[Mutex<Bucket>]>,
    key: (u64, u64),
    start: Instant,
    dropped: AtomicU64,
    slipped: AtomicU64,
}

#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    /// The full hash of the key this bucket counts; 0 for a bucket never used.
    hash: u64,
    /// Responses in the current step.
    counter: u32,
    /// The smoothed count of earlier steps.
    rate: u32,
    /// Over-limit responses in the current step (every `slip`-th slips).
    over: u32,
    /// When the current step started, in milliseconds since the limiter was made.
    step_start: u64,
}

impl RateLimiter {
    /// The limiter `limits` ask for, or `None` when rate limiting is off (`rate-limit = 0`).
    pub fn new(limits: &NetLimits) -> Option<Self> {
        if limits.rate_limit == 0 {
            return None;
        }
        let mut key = [0u8; 16];
        // Without randomness the hash is only predictable, not wrong.
        let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key);
        let (k0, k1) = key.split_at(8);
        let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
        let size = usize::try_from(limits.rate_limit_table_size.max(1)).unwrap_or(1 << 18);
        Some(Self {
            limit: limits.rate_limit,
            slip: limits.rate_limit_slip,
            ipv4_mask: u32::MAX
                .checked_shl(32 - u32::from(limits.rate_limit_ipv4_prefix.clamp(1, 32)))
                .unwrap_or(0),
            ipv6_mask: u64::MAX
                .checked_shl(64 - u32::from(limits.rate_limit_ipv6_prefix.clamp(1, 64)))
                .unwrap_or(0),
            buckets: (0..size).map(|_| Mutex::new(Bucket::default())).collect(),
            key: (word(k0), word(k1)),
            start: Instant::now(),
            dropped: AtomicU64::new(0),
            slipped: AtomicU64::new(0),
        })
    }

    /// Counts one response of `class` about `name` to `src` and says what to do with it.
    pub fn check(&self, src: IpAddr, class: ResponseClass, name: Option<&Name>) -> Verdict {
        self.check_at(src, class, name, self.start.elapsed())
    }

    /// Responses dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Responses sent as TC=1 instead so far.
    pub fn slipped(&self) -> u64 {
        self.slipped.load(Ordering::Relaxed)
    }

    fn check_at(
        &self,
        src: IpAddr,
        class: ResponseClass,
        name: Option<&Name>,
        now: Duration,
    ) -> Verdict {
        let hash = self.hash(src, class, name);
        let index = usize::try_from(hash % self.buckets.len() as u64).unwrap_or(0);
        let now_ms = u64::try_from(now.as_millis()).unwrap_or(u64::MAX);
        let over = {
            let mut bucket = self.buckets[index]
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            update(&mut bucket, hash, now_ms, self.limit)
        };
        let Some(over) = over else {
            return Verdict::Send;
        };
        if over == 1 {
            static BLOCK: RateLimitedLog = RateLimitedLog::new(LOG_INTERVAL);
            if let Some(suppressed) = BLOCK.admit() {
                tracing::info!(
                    %src,
                    class = ?class,
                    name = ?name.map(ToString::to_string),
                    limit = self.limit,
                    suppressed,
                    "response rate limit reached"
                );
            }
        }
        if self.slip > 0 && over % self.slip == 0 {
            self.slipped.fetch_add(1, Ordering::Relaxed);
            Verdict::Slip
        } else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            Verdict::Drop
        }
    }

    fn hash(&self, src: IpAddr, class: ResponseClass, name: Option<&Name>) -> u64 {
        let mut hasher = SipHasher13::new_with_keys(self.key.0, self.key.1);
        match src {
            IpAddr::V4(ip) => {
                hasher.write_u8(4);
                hasher.write_u32(u32::from(ip) & self.ipv4_mask);
            }
            IpAddr::V6(ip) => {
                let high = u64::try_from(u128::from(ip) >> 64).unwrap_or(0);
                hasher.write_u8(6);
                hasher.write_u64(high & self.ipv6_mask);
            }
        }
        hasher.write_u8(class as u8);
        if let Some(name) = name {
            for label in name.iter() {
                hasher.write_u8(u8::try_from(label.len()).unwrap_or(u8::MAX));
                for byte in label {
                    hasher.write_u8(byte.to_ascii_lowercase());
                }
            }
        }
        // 0 marks an unused bucket.
        hasher.finish().max(1)
    }
}

/// Counts one response in `bucket` at `now_ms`; when it is over `limit`, returns how many
/// responses of this step were over it, this one included.
fn update(bucket: &mut Bucket, hash: u64, now_ms: u64, limit: u32) -> Option<u32> {
    if bucket.hash != hash {
        *bucket = Bucket {
            hash,
            counter: 1,
            rate: 0,
            over: 0,
            step_start: now_ms,
        };
        return None;
    }
    let steps = now_ms.saturating_sub(bucket.step_start) / 1000;
    if steps == 1 {
        bucket.rate = bucket.rate / 2 + bucket.counter;
    } else if steps > 1 {
        // NSD's attenuation: the steps in between had no traffic.
        bucket.rate = if steps > 16 {
            0
        } else {
            let steps = u32::try_from(steps).unwrap_or(16);
            (bucket.rate >> steps) + (bucket.counter >> (steps - 1))
        };
    }
    if steps > 0 {
        bucket.counter = 0;
        bucket.over = 0;
        bucket.step_start += steps * 1000;
    }
    bucket.counter = bucket.counter.saturating_add(1);
    let projected = if bucket.counter > bucket.rate / 2 {
        bucket.counter + bucket.rate / 2
    } else {
        bucket.rate
    };
    if bucket.counter <= limit && projected < limit.saturating_mul(2) {
        return None;
    }
    bucket.over = bucket.over.saturating_add(1);
    Some(bucket.over)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn limiter(rate_limit: u32, slip: u32) -> RateLimiter {
        RateLimiter::new(&NetLimits {
            rate_limit,
            rate_limit_slip: slip,
            rate_limit_table_size: 1024,
            ..NetLimits::default()
        })
        .expect("on")
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn rate_limit_zero_is_off() {
        assert!(
            RateLimiter::new(&NetLimits {
                rate_limit: 0,
                ..NetLimits::default()
            })
            .is_none()
        );
    }

    #[test]
    fn a_burst_gets_at_most_the_limit_in_its_first_second_and_is_held_after() {
        let rrl = limiter(200, 2);
        let src = IpAddr::from_str("192.0.2.1").expect("ip");
        let qname = Name::from_str("www.example.").expect("name");
        let mut sent = 0;
        let mut slipped = 0;
        // 5,000 identical queries within one second.
        for i in 0..5000 {
            match rrl.check_at(src, ResponseClass::Positive, Some(&qname), ms(i / 5)) {
                Verdict::Send => sent += 1,
                Verdict::Slip => slipped += 1,
                Verdict::Drop => {}
            }
        }
        assert_eq!(sent, 200);
        assert_eq!(slipped, 2400, "every second response over the limit slips");
        assert_eq!(rrl.slipped(), 2400);
        assert_eq!(rrl.dropped(), 2400);
        // The next second still sees the smoothed rate of the flood: nothing passes.
        assert_eq!(
            rrl.check_at(src, ResponseClass::Positive, Some(&qname), ms(1500)),
            Verdict::Drop
        );
    }

    #[test]
    fn buckets_are_per_prefix_class_and_name() {
        let rrl = limiter(5, 0);
        let a = IpAddr::from_str("192.0.2.1").expect("ip");
        let same_24 = IpAddr::from_str("192.0.2.200").expect("ip");
        let other = IpAddr::from_str("198.51.100.1").expect("ip");
        let www = Name::from_str("www.example.").expect("name");
        let mail = Name::from_str("mail.example.").expect("name");
        for _ in 0..5 {
            assert_eq!(
                rrl.check_at(a, ResponseClass::Positive, Some(&www), ms(0)),
                Verdict::Send
            );
        }
        // The same /24 shares the bucket (slip 0: dropped).
        assert_eq!(
            rrl.check_at(same_24, ResponseClass::Positive, Some(&www), ms(0)),
            Verdict::Drop
        );
        // Another name, another class or another prefix is counted apart.
        for (src, class, name) in [
            (a, ResponseClass::Positive, &mail),
            (a, ResponseClass::NxDomain, &www),
            (other, ResponseClass::Positive, &www),
        ] {
            assert_eq!(rrl.check_at(src, class, Some(name), ms(0)), Verdict::Send);
        }
    }

    #[test]
    fn a_client_under_the_limit_is_never_limited() {
        let rrl = limiter(10, 2);
        let src = IpAddr::from_str("2001:db8::1").expect("ip");
        let name = Name::from_str("example.").expect("name");
        // 9 per second for a minute.
        for second in 0..60 {
            for i in 0..9 {
                assert_eq!(
                    rrl.check_at(
                        src,
                        ResponseClass::NoData,
                        Some(&name),
                        ms(second * 1000 + i * 100)
                    ),
                    Verdict::Send,
                    "second {second}"
                );
            }
        }
    }

    #[test]
    fn the_limit_lifts_once_the_flood_stops() {
        let rrl = limiter(10, 1);
        let src = IpAddr::from_str("192.0.2.1").expect("ip");
        for i in 0..1000 {
            rrl.check_at(src, ResponseClass::Error, None, ms(i));
        }
        assert_eq!(
            rrl.check_at(src, ResponseClass::Error, None, ms(999)),
            Verdict::Slip
        );
        // Seconds later without traffic, the rate has decayed.
        assert_eq!(
            rrl.check_at(src, ResponseClass::Error, None, ms(20_000)),
            Verdict::Send
        );
    }
}
