//! The key lifecycle engine (`daned_sign::lifecycle`): exact RFC 7583 / RFC 6781 timings of
//! each roll, CDS policies, errors, and a whole simulated lifetime checked against a model of
//! resolver caches.

use daned_sign::keys::{KeyAlgorithm, KeyRole};
use daned_sign::lifecycle::{
    Advance, CdsPolicy, DsState, KeyMode, KeyPolicy, KeyRecord, KeyState, LifecycleError, NewKey,
    advance, ds_seen, start_roll,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const T0: u32 = 1_767_225_600; // 2026-01-01T00:00:00Z
const HOUR: u32 = 3600;
const DAY: u32 = 86_400;
const P256: KeyAlgorithm = KeyAlgorithm::EcdsaP256Sha256;
const ED: KeyAlgorithm = KeyAlgorithm::Ed25519;

/// A policy with distinct values for every timing, so that a wrong term shows.
fn policy(mode: KeyMode) -> KeyPolicy {
    KeyPolicy {
        mode,
        algorithm: P256,
        ksk_lifetime: Some(30 * DAY),
        zsk_lifetime: Some(10 * DAY),
        dnskey_ttl: 3600,
        max_zone_ttl: 7200,
        propagation_delay: 300,
        parent_ds_ttl: 5400,
        parent_propagation_delay: 900,
        safety_margin: 60,
        cds: CdsPolicy::Always,
    }
}

/// IpubZ = IpubK = Dprp + TTLkey + margin.
const IPUB: u32 = 300 + 3600 + 60;
/// Iret for a ZSK = Dprp + TTLsig + margin.
const IRET_Z: u32 = 300 + 7200 + 60;
/// DS wait = DprpP + TTLds + margin.
const DSWAIT: u32 = 900 + 5400 + 60;
/// Iret for a KSK/CSK = Dprp + max(TTLkey, TTLsig) + margin.
const IRET_K: u32 = 300 + 7200 + 60;

/// Creates what `adv` asks for, with tags from `next_tag`, and advances again.
fn create(
    now: u32,
    p: &KeyPolicy,
    keys: &mut Vec<KeyRecord>,
    adv: &Advance,
    next_tag: &mut u16,
) -> Result<Advance, LifecycleError> {
    for NewKey {
        role,
        algorithm,
        state,
    } in &adv.generate
    {
        keys.push(KeyRecord::new(*next_tag, *algorithm, *role, *state, now));
        *next_tag += 1;
    }
    let again = advance(now, p, keys)?;
    assert!(again.generate.is_empty(), "asked twice: {again:?}");
    Ok(again)
}

fn key(keys: &[KeyRecord], tag: u16) -> KeyRecord {
    *keys
        .iter()
        .find(|k| k.tag == tag)
        .unwrap_or_else(|| panic!("no key {tag}"))
}

fn state(keys: &[KeyRecord], tag: u16) -> KeyState {
    key(keys, tag).state
}

/// The zone's first keys, created at `T0`.
fn first_keys(p: &KeyPolicy, next_tag: &mut u16) -> Result<Vec<KeyRecord>, LifecycleError> {
    let mut keys = Vec::new();
    let adv = advance(T0, p, &mut keys)?;
    create(T0, p, &mut keys, &adv, next_tag)?;
    Ok(keys)
}

#[test]
fn initial_keys_are_active_and_their_ds_is_wanted() -> TestResult {
    for (mode, roles) in [
        (KeyMode::Csk, vec![KeyRole::Csk]),
        (KeyMode::KskZsk, vec![KeyRole::Ksk, KeyRole::Zsk]),
    ] {
        let p = policy(mode);
        let mut keys = Vec::new();
        let adv = advance(T0, &p, &mut keys)?;
        let asked: Vec<KeyRole> = adv.generate.iter().map(|n| n.role).collect();
        assert_eq!(asked, roles);
        assert!(
            adv.generate
                .iter()
                .all(|n| n.state == KeyState::Active && n.algorithm == P256)
        );
        let mut tag = 100;
        let adv = create(T0, &p, &mut keys, &adv, &mut tag)?;
        assert!(adv.transitions.is_empty());
        for k in &keys {
            assert_eq!(k.state, KeyState::Active);
            assert_eq!(k.active_since, Some(T0));
            let sep = k.role != KeyRole::Zsk;
            assert_eq!(
                k.ds,
                if sep {
                    DsState::Submitted { since: T0 }
                } else {
                    DsState::None
                }
            );
            assert_eq!(adv.awaiting_ds.contains(&k.tag), sep);
            let u = k.usage(&p, &keys);
            assert!(u.publish && u.cds == sep, "{k:?} {u:?}");
        }
        // Nothing waits for the first DS: the next step is the first scheduled roll.
        let next = adv.next.ok_or("no next action")?;
        let first = match mode {
            KeyMode::Csk => T0 + 30 * DAY - IPUB - DSWAIT,
            KeyMode::KskZsk => T0 + 10 * DAY - IPUB,
        };
        assert_eq!(next.at, first, "{}", next.what);
        assert!(next.what.contains("rollover starts"), "{}", next.what);
    }
    Ok(())
}

#[test]
fn rfc7583_s3_2_1_zsk_prepublication_timeline() -> TestResult {
    // RFC 7583 §3.2.1: "the new key is introduced into the DNSKEY RRset ... [it] must be in
    // the validators' caches before it is used: Ipub = Dprp + TTLkey"; the old key stays
    // published for "Iret = Dsgn + Dprp + TTLsig" after it stops signing.
    let p = policy(KeyMode::KskZsk);
    let mut tag = 1;
    let mut keys = first_keys(&p, &mut tag)?;
    let old_zsk = 2;
    let publish_at = T0 + 10 * DAY - IPUB;

    // One second early: nothing.
    let adv = advance(publish_at - 1, &p, &mut keys)?;
    assert!(adv.generate.is_empty() && adv.transitions.is_empty());
    let adv = advance(publish_at, &p, &mut keys)?;
    assert_eq!(
        adv.generate,
        vec![NewKey {
            role: KeyRole::Zsk,
            algorithm: P256,
            state: KeyState::Published
        }]
    );
    let adv = create(publish_at, &p, &mut keys, &adv, &mut tag)?;
    let new_zsk = 3;
    let u = key(&keys, new_zsk).usage(&p, &keys);
    assert!(
        u.publish && !u.sign_zone && !u.sign_keys && !u.cds,
        "pre-published: {u:?}"
    );
    let next = adv.next.ok_or("next")?;
    assert_eq!(next.at, publish_at + IPUB);
    assert_eq!(next.what, "key 3 (zsk) published -> ready");

    // At the end of the old key's lifetime the successor is ready and takes over at once.
    let swap = T0 + 10 * DAY;
    assert_eq!(publish_at + IPUB, swap);
    let adv = advance(swap - 1, &p, &mut keys)?;
    assert!(adv.transitions.is_empty());
    let adv = advance(swap, &p, &mut keys)?;
    let moves: Vec<(u16, KeyState, KeyState)> = adv
        .transitions
        .iter()
        .map(|t| (t.tag, t.from, t.to))
        .collect();
    assert_eq!(
        moves,
        vec![
            (new_zsk, KeyState::Published, KeyState::Ready),
            (new_zsk, KeyState::Ready, KeyState::Active),
            (old_zsk, KeyState::Active, KeyState::Retired),
        ]
    );
    let old = key(&keys, old_zsk).usage(&p, &keys);
    assert!(old.publish && !old.sign_zone, "retired: {old:?}");
    assert!(key(&keys, new_zsk).usage(&p, &keys).sign_zone);
    assert_eq!(key(&keys, new_zsk).active_since, Some(swap));
    let next = adv.next.ok_or("next")?;
    assert_eq!(
        (next.at, next.what.as_str()),
        (swap + IRET_Z, "key 2 (zsk) retired -> removed")
    );

    let adv = advance(swap + IRET_Z, &p, &mut keys)?;
    assert_eq!(state(&keys, old_zsk), KeyState::Removed);
    assert_eq!(adv.transitions.len(), 1);
    assert_eq!(key(&keys, old_zsk).usage(&p, &keys), Default::default());
    // The KSK was not touched.
    assert_eq!(state(&keys, 1), KeyState::Active);
    Ok(())
}

#[test]
fn rfc7583_s3_3_csk_double_ds_waits_for_the_parent() -> TestResult {
    // RFC 7583 §3.3.2 (double-DS) and §3.3.3 (double-RRset): the new key's DS must be at the
    // parent and in the validators' caches ("DprpP + TTLds") before the old key's goes.
    for cds in [CdsPolicy::Always, CdsPolicy::Rollover, CdsPolicy::Never] {
        let p = KeyPolicy {
            cds,
            ..policy(KeyMode::Csk)
        };
        let mut tag = 1;
        let mut keys = first_keys(&p, &mut tag)?;
        ds_seen(T0 + HOUR, &mut keys, 1)?;
        let start = T0 + 30 * DAY - IPUB - DSWAIT;
        let adv = advance(start, &p, &mut keys)?;
        assert_eq!(adv.generate.len(), 1);
        create(start, &p, &mut keys, &adv, &mut tag)?;
        let u = key(&keys, 2).usage(&p, &keys);
        assert!(
            u.publish && u.sign_keys && !u.sign_zone && !u.cds,
            "{cds:?} {u:?}"
        );

        let ready = start + IPUB;
        let adv = advance(ready, &p, &mut keys)?;
        assert_eq!(state(&keys, 2), KeyState::Ready);
        assert_eq!(key(&keys, 2).ds, DsState::Submitted { since: ready });
        assert_eq!(adv.awaiting_ds, vec![2]);
        // Waiting only for the parent: no timed step.
        assert_eq!(adv.next, None, "{cds:?}");
        let cds_keys: Vec<u16> = keys
            .iter()
            .filter(|k| k.usage(&p, &keys).cds)
            .map(|k| k.tag)
            .collect();
        // RFC 7344 §4: CDS/CDNSKEY name the keys the parent should hold: both during the roll
        // (double-DS), or with `Rollover` the new one alone (a swap: the successor signs the
        // DNSKEY RRset, so the old DS and the new one both validate it).
        let want: Vec<u16> = match cds {
            CdsPolicy::Always => vec![1, 2],
            CdsPolicy::Rollover => vec![2],
            CdsPolicy::Never => vec![],
        };
        assert_eq!(cds_keys, want, "{cds:?}");

        // Weeks later, still nothing without the parent.
        let adv = advance(ready + 40 * DAY, &p, &mut keys)?;
        assert!(adv.transitions.is_empty());
        assert_eq!(state(&keys, 1), KeyState::Active);

        let seen = ready + 40 * DAY + 17;
        ds_seen(seen, &mut keys, 2)?;
        let adv = advance(seen, &p, &mut keys)?;
        let next = adv.next.ok_or("next")?;
        assert_eq!(next.at, seen + DSWAIT);
        assert_eq!(next.what, "key 2 (csk) ready -> active");
        advance(seen + DSWAIT - 1, &p, &mut keys)?;
        assert_eq!(state(&keys, 2), KeyState::Ready);
        let adv = advance(seen + DSWAIT, &p, &mut keys)?;
        assert_eq!(state(&keys, 2), KeyState::Active);
        assert_eq!(state(&keys, 1), KeyState::Retired);
        assert_eq!(
            key(&keys, 1).ds,
            DsState::Withdrawn {
                since: seen + DSWAIT
            }
        );
        let cds_keys: Vec<u16> = keys
            .iter()
            .filter(|k| k.usage(&p, &keys).cds)
            .map(|k| k.tag)
            .collect();
        // After the swap the CDS names the new key alone with `Always`; `Rollover` publishes
        // none outside a roll's wait for the parent.
        let want: Vec<u16> = if cds == CdsPolicy::Always {
            vec![2]
        } else {
            vec![]
        };
        assert_eq!(cds_keys, want, "{cds:?} after the roll");
        assert!(adv.awaiting_ds.is_empty());
        let next = adv.next.ok_or("next")?;
        assert_eq!(next.at, seen + DSWAIT + IRET_K);
    }
    Ok(())
}

#[test]
fn rfc6781_s4_1_4_conservative_algorithm_rollover() -> TestResult {
    // RFC 6781 §4.1.4: "the new algorithm's signatures are added first (new RRSIGs), then the
    // new DNSKEYs after the signatures are in caches (new DNSKEY), then the DS (new DS), then the
    // old DNSKEYs are removed (DNSKEY removal), then the old signatures (RRSIGs removal)".
    let p = policy(KeyMode::KskZsk);
    let mut tag = 1;
    let mut keys = first_keys(&p, &mut tag)?;
    ds_seen(T0 + HOUR, &mut keys, 1)?;
    let p = KeyPolicy { algorithm: ED, ..p };
    let t = T0 + DAY;
    let adv = advance(t, &p, &mut keys)?;
    assert_eq!(adv.generate.len(), 2);
    assert!(
        adv.generate
            .iter()
            .all(|n| n.state == KeyState::PreActive && n.algorithm == ED)
    );
    let adv = create(t, &p, &mut keys, &adv, &mut tag)?;
    // New RRSIGs: the new keys sign, their DNSKEYs are not published.
    for new in [3, 4] {
        let u = key(&keys, new).usage(&p, &keys);
        assert!(!u.publish && (u.sign_keys || u.sign_zone), "{u:?}");
    }
    let pre = 300 + 7200 + 60; // Dprp + TTLsig + margin
    assert_eq!(adv.next.as_ref().map(|n| n.at), Some(t + pre));
    // No other roll starts meanwhile, even a manual one.
    assert!(matches!(
        start_roll(t, &p, &mut keys, KeyRole::Zsk),
        Err(LifecycleError::BadPolicy(_))
    ));

    advance(t + pre, &p, &mut keys)?;
    // New DNSKEY: published and still signing everything (RFC 4035 §2.2: every algorithm in
    // the DNSKEY RRset signs every RRset).
    for new in [3, 4] {
        assert_eq!(state(&keys, new), KeyState::Published);
        let u = key(&keys, new).usage(&p, &keys);
        assert!(u.publish && (u.sign_keys || u.sign_zone), "{u:?}");
    }
    let adv = advance(t + pre + IPUB, &p, &mut keys)?;
    assert_eq!(adv.awaiting_ds, vec![3]);
    assert_eq!(state(&keys, 4), KeyState::Ready);
    // New DS: in RFC 6781 §4.1.4 the parent's DS changes from the old key to the new one, so
    // the CDS names the new KSK alone; a validator checking every DS algorithm would otherwise
    // fail once the old DNSKEYs go while the old DS is still cached.
    let cds_keys: Vec<u16> = keys
        .iter()
        .filter(|k| k.usage(&p, &keys).cds)
        .map(|k| k.tag)
        .collect();
    assert_eq!(cds_keys, vec![3]);
    let seen = t + pre + IPUB + 5 * HOUR;
    ds_seen(seen, &mut keys, 3)?;
    advance(seen + DSWAIT, &p, &mut keys)?;
    // DNSKEY removal: old keys post-active (signing, not published), new keys active.
    for (old, new) in [(1, 3), (2, 4)] {
        assert_eq!(state(&keys, new), KeyState::Active);
        assert_eq!(state(&keys, old), KeyState::PostActive);
        let u = key(&keys, old).usage(&p, &keys);
        assert!(!u.publish && (u.sign_keys || u.sign_zone), "{u:?}");
    }
    let post = 300 + 3600 + 60; // Dprp + TTLkey + margin
    let adv = advance(seen + DSWAIT + post, &p, &mut keys)?;
    assert_eq!(state(&keys, 1), KeyState::Removed);
    assert_eq!(state(&keys, 2), KeyState::Removed);
    assert_eq!(adv.transitions.len(), 2);
    Ok(())
}

#[test]
fn mode_change_csk_to_ksk_zsk_is_a_double_ds_roll() -> TestResult {
    let p = policy(KeyMode::Csk);
    let mut tag = 1;
    let mut keys = first_keys(&p, &mut tag)?;
    ds_seen(T0 + HOUR, &mut keys, 1)?;
    let p = policy(KeyMode::KskZsk);
    let adv = advance(T0 + DAY, &p, &mut keys)?;
    let roles: Vec<(KeyRole, KeyState)> = adv.generate.iter().map(|n| (n.role, n.state)).collect();
    assert_eq!(
        roles,
        vec![
            (KeyRole::Ksk, KeyState::Published),
            (KeyRole::Zsk, KeyState::Published)
        ]
    );
    create(T0 + DAY, &p, &mut keys, &adv, &mut tag)?;
    let ready = T0 + DAY + IPUB;
    advance(ready, &p, &mut keys)?;
    // The ZSK is ready but waits for the KSK's DS: the CSK still signs everything.
    assert_eq!(state(&keys, 3), KeyState::Ready);
    assert!(!key(&keys, 3).usage(&p, &keys).sign_zone);
    ds_seen(ready + HOUR, &mut keys, 2)?;
    let adv = advance(ready + HOUR + DSWAIT, &p, &mut keys)?;
    assert_eq!(adv.transitions.len(), 3, "{:?}", adv.transitions);
    assert_eq!(state(&keys, 1), KeyState::Retired);
    assert_eq!(state(&keys, 2), KeyState::Active);
    assert_eq!(state(&keys, 3), KeyState::Active);
    Ok(())
}

#[test]
fn restart_resumes_the_waits_and_advance_is_idempotent() -> TestResult {
    let p = policy(KeyMode::KskZsk);
    let mut tag = 1;
    let mut keys = first_keys(&p, &mut tag)?;
    let start = T0 + 10 * DAY - IPUB;
    let adv = advance(start, &p, &mut keys)?;
    create(start, &p, &mut keys, &adv, &mut tag)?;
    // A "restart" in the middle of the wait: the reloaded records give the same deadline.
    let mut reloaded = keys.clone();
    let adv = advance(start + 100, &p, &mut reloaded)?;
    assert!(adv.transitions.is_empty());
    assert_eq!(adv.next.map(|n| n.at), Some(start + IPUB));
    assert_eq!(reloaded, keys);
    // The same call twice changes nothing the second time.
    let first = advance(start + IPUB, &p, &mut keys)?;
    let snapshot = keys.clone();
    let second = advance(start + IPUB, &p, &mut keys)?;
    assert!(!first.transitions.is_empty());
    assert!(second.transitions.is_empty());
    assert_eq!(keys, snapshot);
    assert_eq!(first.next, second.next);
    Ok(())
}

#[test]
fn manual_roll_and_its_errors() -> TestResult {
    let p = policy(KeyMode::KskZsk);
    let mut tag = 1;
    let mut keys = first_keys(&p, &mut tag)?;
    assert!(matches!(
        start_roll(T0, &p, &mut keys, KeyRole::Csk),
        Err(LifecycleError::BadPolicy(m)) if m.contains("no active csk")
    ));
    let adv = start_roll(T0 + HOUR, &p, &mut keys, KeyRole::Zsk)?;
    assert_eq!(adv.generate.len(), 1);
    create(T0 + HOUR, &p, &mut keys, &adv, &mut tag)?;
    assert!(matches!(
        start_roll(T0 + HOUR, &p, &mut keys, KeyRole::Zsk),
        Err(LifecycleError::BadPolicy(m)) if m.contains("already under way")
    ));
    // A KSK roll may overlap the ZSK roll (they touch different signatures).
    let adv = start_roll(T0 + HOUR, &p, &mut keys, KeyRole::Ksk)?;
    assert_eq!(adv.generate[0].role, KeyRole::Ksk);
    create(T0 + HOUR, &p, &mut keys, &adv, &mut tag)?;
    // The manual ZSK roll completes as soon as the successor is ready.
    advance(T0 + HOUR + IPUB, &p, &mut keys)?;
    assert_eq!(state(&keys, 3), KeyState::Active);
    assert_eq!(state(&keys, 2), KeyState::Retired);
    assert_eq!(state(&keys, 4), KeyState::Ready);
    Ok(())
}

#[test]
fn ds_seen_errors() -> TestResult {
    let p = policy(KeyMode::KskZsk);
    let mut tag = 1;
    let mut keys = first_keys(&p, &mut tag)?;
    assert_eq!(
        ds_seen(T0, &mut keys, 999),
        Err(LifecycleError::UnknownKey { tag: 999 })
    );
    assert_eq!(
        ds_seen(T0, &mut keys, 2),
        Err(LifecycleError::NotAwaitingDs {
            tag: 2,
            state: "active"
        })
    );
    ds_seen(T0 + 5, &mut keys, 1)?;
    // Again (polling finds it twice): no change.
    ds_seen(T0 + 50, &mut keys, 1)?;
    assert_eq!(key(&keys, 1).ds, DsState::Seen { at: T0 + 5 });
    Ok(())
}

#[test]
fn rfc7583_lifetime_shorter_than_the_roll_is_a_bad_policy() {
    let mut keys = Vec::new();
    for p in [
        KeyPolicy {
            zsk_lifetime: Some(IPUB + IRET_Z - 1),
            ..policy(KeyMode::KskZsk)
        },
        KeyPolicy {
            ksk_lifetime: Some(IPUB + DSWAIT + IRET_K - 1),
            ..policy(KeyMode::Csk)
        },
    ] {
        assert!(
            matches!(
                advance(T0, &p, &mut keys),
                Err(LifecycleError::BadPolicy(_))
            ),
            "{p:?}"
        );
    }
    // Exactly long enough is fine; the ZSK lifetime does not matter for a CSK.
    let p = KeyPolicy {
        zsk_lifetime: Some(1),
        ksk_lifetime: Some(IPUB + DSWAIT + IRET_K),
        ..policy(KeyMode::Csk)
    };
    assert!(advance(T0, &p, &mut keys).is_ok());
}

// ---------------------------------------------------------------------------------------------
// A whole lifetime against a model of resolver caches.
// ---------------------------------------------------------------------------------------------

/// xorshift64*: deterministic randomness for the simulation.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u32) -> u32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        u32::try_from((x >> 32) % u64::from(n.max(1))).unwrap_or(0)
    }
}

/// One version of the zone as resolvers see it (from what `usage` says).
#[derive(Clone, Debug, PartialEq)]
struct ZoneVersion {
    start: u32,
    end: Option<u32>,
    /// (tag, algorithm) of every published DNSKEY.
    dnskey: Vec<(u16, KeyAlgorithm)>,
    /// (tag, algorithm) of the keys signing the DNSKEY RRset.
    key_signers: Vec<(u16, KeyAlgorithm)>,
    /// (tag, algorithm) of the keys signing every other RRset.
    zone_signers: Vec<(u16, KeyAlgorithm)>,
    /// Tags in CDS/CDNSKEY.
    cds: Vec<u16>,
}

impl ZoneVersion {
    fn same_content(&self, other: &Self) -> bool {
        self.dnskey == other.dnskey
            && self.key_signers == other.key_signers
            && self.zone_signers == other.zone_signers
            && self.cds == other.cds
    }
}

/// One version of the parent's DS RRset.
#[derive(Clone, Debug)]
struct DsVersion {
    start: u32,
    end: Option<u32>,
    tags: Vec<u16>,
}

/// A version that ended at `end` is still in some cache until `end + delay + ttl` (exclusive).
fn cachable(end: Option<u32>, now: u32, delay: u32, ttl: u32) -> bool {
    end.is_none_or(|e| e + delay + ttl > now)
}

struct Sim {
    p: KeyPolicy,
    keys: Vec<KeyRecord>,
    tag: u16,
    rng: Rng,
    zone: Vec<ZoneVersion>,
    parent: Vec<DsVersion>,
    /// Pending parent update (the parent copies the CDS, or the operator acts, at this time).
    parent_sync: Option<u32>,
    /// Pending `ds-seen` calls: (time, tag).
    seen_at: Vec<(u32, u16)>,
    /// When each key's DNSKEY was first published.
    first_published: Vec<(u16, u32)>,
    /// Keys created active (the first keys of the zone, or after a restart from nothing).
    initial: Vec<u16>,
    any_ds_seen: bool,
    /// Statistics: successors activated per role, algorithm rolls, checks made.
    activated: Vec<KeyRole>,
    post_active: u32,
    checks: u64,
}

impl Sim {
    fn new(p: KeyPolicy, seed: u64) -> Self {
        Self {
            p,
            keys: Vec::new(),
            tag: 1,
            rng: Rng(seed),
            zone: Vec::new(),
            parent: vec![DsVersion {
                start: T0,
                end: None,
                tags: Vec::new(),
            }],
            parent_sync: None,
            seen_at: Vec::new(),
            first_published: Vec::new(),
            initial: Vec::new(),
            any_ds_seen: false,
            activated: Vec::new(),
            post_active: 0,
            checks: 0,
        }
    }

    /// The zone as the keys' uses make it now.
    fn version(&self, now: u32) -> ZoneVersion {
        let mut v = ZoneVersion {
            start: now,
            end: None,
            dnskey: Vec::new(),
            key_signers: Vec::new(),
            zone_signers: Vec::new(),
            cds: Vec::new(),
        };
        for k in &self.keys {
            let u = k.usage(&self.p, &self.keys);
            let id = (k.tag, k.algorithm);
            if u.publish {
                v.dnskey.push(id);
            }
            if u.sign_keys {
                v.key_signers.push(id);
            }
            if u.sign_zone {
                v.zone_signers.push(id);
            }
            if u.cds {
                v.cds.push(k.tag);
            }
            // Every key with sign_zone has its DNSKEY published unless PreActive/PostActive.
            if u.sign_zone && !u.publish {
                assert!(
                    matches!(k.state, KeyState::PreActive | KeyState::PostActive),
                    "{k:?} signs unpublished"
                );
            }
        }
        v
    }

    /// The DS set the parent should hold now: the CDS set when there is one (RFC 7344 §4.1), or
    /// what an operator following `daned status` would put there.
    fn desired_ds(&self) -> Vec<u16> {
        let cds = self.zone.last().map(|v| v.cds.clone()).unwrap_or_default();
        if !cds.is_empty() {
            return cds;
        }
        let current = self
            .parent
            .last()
            .map(|d| d.tags.clone())
            .unwrap_or_default();
        if self.p.cds == CdsPolicy::Never || current.is_empty() {
            let mut tags: Vec<u16> = self
                .keys
                .iter()
                .filter(|k| k.role != KeyRole::Zsk)
                .filter(|k| match k.state {
                    KeyState::Active => true,
                    KeyState::Ready => {
                        matches!(k.ds, DsState::Submitted { .. } | DsState::Seen { .. })
                    }
                    _ => false,
                })
                .map(|k| k.tag)
                .collect();
            tags.sort_unstable();
            return tags;
        }
        current
    }

    /// Every combination of RRsets a resolver may hold at `now` validates.
    fn check_caches(&mut self, now: u32) {
        let p = self.p;
        let ds: Vec<&DsVersion> = self
            .parent
            .iter()
            .filter(|d| d.start <= now)
            .filter(|d| cachable(d.end, now, p.parent_propagation_delay, p.parent_ds_ttl))
            .collect();
        let dnskey: Vec<&ZoneVersion> = self
            .zone
            .iter()
            .filter(|z| cachable(z.end, now, p.propagation_delay, p.dnskey_ttl))
            .collect();
        let data: Vec<&ZoneVersion> = self
            .zone
            .iter()
            .filter(|z| cachable(z.end, now, p.propagation_delay, p.max_zone_ttl))
            .collect();
        for d in &ds {
            if d.tags.is_empty() {
                continue; // insecure delegation: nothing to validate
            }
            for k in &dnskey {
                // RFC 4035 §5.2: the DNSKEY RRset is trusted through a DS that matches a key in
                // it which signed it.
                let ok = k
                    .key_signers
                    .iter()
                    .any(|s| d.tags.contains(&s.0) && k.dnskey.contains(s));
                assert!(ok, "t={now}: DS {d:?} does not validate DNSKEY {k:?}");
                self.checks += 1;
            }
        }
        for k in &dnskey {
            for z in &data {
                // RFC 4035 §5.3: an RRset validates with a signature by a key of the (cached)
                // DNSKEY RRset.
                let ok = z.zone_signers.iter().any(|s| k.dnskey.contains(s));
                assert!(
                    ok,
                    "t={now}: data {z:?} does not validate with DNSKEY {k:?}"
                );
                self.checks += 1;
                // RFC 6781 §4.1.4 guards against validators that want a signature of every
                // algorithm of the DNSKEY RRset (RFC 4035 §2.2): hold them to it as well.
                for (_, alg) in &k.dnskey {
                    assert!(
                        z.zone_signers.iter().any(|s| s.1 == *alg),
                        "t={now}: data {z:?} has no {alg:?} signature for DNSKEY {k:?}"
                    );
                }
            }
        }
    }

    /// Checks on the zone as it is now.
    fn check_now(&self, now: u32) {
        let Some(v) = self.zone.last() else { return };
        // RFC 4035 §2.2: "there MUST be an RRSIG for each RRset using at least one DNSKEY of
        // each algorithm in the zone apex DNSKEY RRset".
        for (_, alg) in &v.dnskey {
            assert!(
                v.key_signers.iter().any(|s| s.1 == *alg),
                "t={now}: DNSKEY not signed with {alg:?}: {v:?}"
            );
            assert!(
                v.zone_signers.iter().any(|s| s.1 == *alg),
                "t={now}: zone not signed with {alg:?}: {v:?}"
            );
        }
        // Once a DS has been seen at the parent, some published SEP key with its DS seen signs
        // the DNSKEY RRset.
        if self.any_ds_seen {
            let ok = self.keys.iter().any(|k| {
                let u = k.usage(&self.p, &self.keys);
                u.publish && u.sign_keys && matches!(k.ds, DsState::Seen { .. })
            });
            assert!(
                ok,
                "t={now}: no published key with its DS seen signs the DNSKEY RRset: {:?}",
                self.keys
            );
        }
        // RFC 7583 §3.2.1: a ZSK signs alone only once its DNSKEY has been published for
        // Dprp + TTLkey (the first keys excepted): some zone signer is old enough.
        let wait = self.p.propagation_delay + self.p.dnskey_ttl;
        let ok = v.zone_signers.iter().any(|(tag, _)| {
            self.initial.contains(tag)
                || self
                    .first_published
                    .iter()
                    .any(|(t, at)| t == tag && at + wait <= now)
        });
        assert!(ok, "t={now}: every zone signer is new: {v:?}");
        // RFC 7344 §4.1: CDS/CDNSKEY only name keys of the DNSKEY RRset.
        for tag in &v.cds {
            assert!(
                v.dnskey.iter().any(|d| d.0 == *tag),
                "t={now}: CDS {tag} not in DNSKEY"
            );
        }
    }

    /// Advances the engine at `now`, creating what it asks for; returns the next deadline.
    fn run(&mut self, now: u32) -> Option<u32> {
        let p = self.p;
        let adv = advance(now, &p, &mut self.keys).unwrap_or_else(|e| panic!("t={now}: {e}"));
        let mut transitions = adv.transitions.clone();
        let adv = if adv.generate.is_empty() {
            adv
        } else {
            for n in &adv.generate {
                if n.state == KeyState::Active {
                    self.initial.push(self.tag);
                }
                self.keys
                    .push(KeyRecord::new(self.tag, n.algorithm, n.role, n.state, now));
                self.tag += 1;
            }
            let again = advance(now, &p, &mut self.keys).unwrap_or_else(|e| panic!("{e}"));
            assert!(again.generate.is_empty(), "asked twice at {now}");
            transitions.extend(again.transitions.iter().copied());
            again
        };
        // Idempotent and restartable: the same call on reloaded records changes nothing.
        let mut reloaded = self.keys.clone();
        let same = advance(now, &p, &mut reloaded).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            same.transitions.is_empty() && same.generate.is_empty(),
            "t={now}: {same:?}"
        );
        assert_eq!(reloaded, self.keys);
        assert_eq!(same.next, adv.next);
        for t in &transitions {
            if t.to == KeyState::Active && !self.initial.contains(&t.tag) {
                self.activated.push(t.role);
            }
            if t.to == KeyState::PostActive {
                self.post_active += 1;
            }
        }
        if let Some(n) = &adv.next {
            assert!(n.at > now, "next {n:?} not after {now}");
            assert!(!n.what.is_empty());
        }

        let v = self.version(now);
        if self.zone.last().is_none_or(|last| !last.same_content(&v)) {
            if let Some(last) = self.zone.last_mut() {
                last.end = Some(now);
            }
            for (tag, _) in &v.dnskey {
                if !self.first_published.iter().any(|(t, _)| t == tag) {
                    self.first_published.push((*tag, now));
                }
            }
            self.zone.push(v);
            self.check_caches(now);
        }
        self.check_now(now);
        if self.parent_sync.is_none()
            && self.parent.last().map(|d| &d.tags) != Some(&self.desired_ds())
        {
            self.parent_sync = Some(now + self.rng.below(DAY));
        }
        adv.next.map(|n| n.at)
    }

    /// The parent updates its DS RRset; polling will see the awaited DS after a delay.
    fn sync_parent(&mut self, now: u32) {
        self.parent_sync = None;
        let tags = self.desired_ds();
        if self.parent.last().map(|d| &d.tags) == Some(&tags) {
            return;
        }
        if let Some(last) = self.parent.last_mut() {
            last.end = Some(now);
        }
        for tag in &tags {
            if matches!(key(&self.keys, *tag).ds, DsState::Submitted { .. }) {
                // Polling sees it at once (a third of the time) or within six hours.
                let delay = if self.rng.below(3) == 0 {
                    0
                } else {
                    self.rng.below(6 * HOUR)
                };
                self.seen_at.push((now + delay, *tag));
            }
        }
        self.parent.push(DsVersion {
            start: now,
            end: None,
            tags,
        });
        self.check_caches(now);
    }

    fn seen(&mut self, now: u32) {
        let due: Vec<u16> = self
            .seen_at
            .iter()
            .filter(|(at, _)| *at <= now)
            .map(|(_, tag)| *tag)
            .collect();
        self.seen_at.retain(|(at, _)| *at > now);
        for tag in due {
            let at_parent = self.parent.last().is_some_and(|d| d.tags.contains(&tag));
            if at_parent && matches!(key(&self.keys, tag).ds, DsState::Submitted { .. }) {
                ds_seen(now, &mut self.keys, tag).unwrap_or_else(|e| panic!("{e}"));
                self.any_ds_seen = true;
            }
        }
    }
}

/// The policy phases of the simulated lifetime: (from, mode, algorithm).
const PHASES: &[(u32, KeyMode, KeyAlgorithm)] = &[
    (0, KeyMode::KskZsk, P256),
    (25 * DAY, KeyMode::Csk, P256),
    (50 * DAY, KeyMode::Csk, ED),
    (75 * DAY, KeyMode::KskZsk, ED),
    (100 * DAY, KeyMode::Csk, P256),
];
const END: u32 = 140 * DAY;

fn simulate(base: KeyPolicy, seed: u64) -> Sim {
    let mut sim = Sim::new(base, seed);
    let mut now = T0;
    let mut manual_done = false;
    loop {
        for (from, mode, algorithm) in PHASES {
            if now >= T0 + from {
                sim.p.mode = *mode;
                sim.p.algorithm = *algorithm;
            }
        }
        if sim.parent_sync.is_some_and(|t| t <= now) {
            sim.sync_parent(now);
        }
        sim.seen(now);
        // One manual ZSK roll, mid-lifetime of the first ZSK.
        if !manual_done && now >= T0 + 4 * DAY {
            manual_done = true;
            let p = sim.p;
            let adv = start_roll(now, &p, &mut sim.keys, KeyRole::Zsk)
                .unwrap_or_else(|e| panic!("manual roll: {e}"));
            for n in &adv.generate {
                sim.keys
                    .push(KeyRecord::new(sim.tag, n.algorithm, n.role, n.state, now));
                sim.tag += 1;
            }
        }
        let next = sim.run(now);
        if now >= T0 + END {
            break;
        }
        let mut t = T0 + END;
        t = t.min(next.unwrap_or(t));
        t = t.min(sim.parent_sync.unwrap_or(t));
        for (at, _) in &sim.seen_at {
            t = t.min(*at);
        }
        for (from, _, _) in PHASES {
            if T0 + from > now {
                t = t.min(T0 + from);
            }
        }
        if !manual_done {
            t = t.min(T0 + 4 * DAY);
        }
        assert!(t > now, "no progress at {now}");
        now = t;
    }
    sim
}

#[test]
fn rfc7583_whole_lifetime_validates_from_every_cache_state() {
    // RFC 7583 §1.1: "a validating resolver ... may have cached any version of the DNSKEY and DS
    // RRsets that was published within their TTLs"; at every step, every combination of cached
    // DS, DNSKEY and signed data must validate.
    for (i, cds) in [CdsPolicy::Always, CdsPolicy::Rollover, CdsPolicy::Never]
        .into_iter()
        .enumerate()
    {
        for (seed, margin) in [(7, 0), (99, 60), (12345, 0)] {
            let p = KeyPolicy {
                cds,
                safety_margin: margin,
                ksk_lifetime: Some(12 * DAY),
                zsk_lifetime: Some(3 * DAY),
                ..policy(KeyMode::KskZsk)
            };
            let sim = simulate(p, seed + i as u64);
            let count = |r: KeyRole| sim.activated.iter().filter(|x| **x == r).count();
            // The lifetime really rolled: several ZSK, KSK and CSK rolls and two algorithm rolls.
            assert!(
                count(KeyRole::Zsk) >= 6,
                "{cds:?} zsk rolls: {:?}",
                sim.activated
            );
            assert!(
                count(KeyRole::Ksk) >= 2,
                "{cds:?} ksk rolls: {:?}",
                sim.activated
            );
            assert!(
                count(KeyRole::Csk) >= 3,
                "{cds:?} csk rolls: {:?}",
                sim.activated
            );
            assert!(sim.post_active >= 3, "algorithm rolls: {}", sim.post_active);
            assert!(sim.checks > 500, "checks: {}", sim.checks);
            eprintln!(
                "{cds:?} seed {seed}: {} checks, activated {:?}, post-active {}",
                sim.checks, sim.activated, sim.post_active
            );
            assert!(sim.any_ds_seen);
            // Removed keys are out of the zone for good.
            let last = &sim
                .zone
                .last()
                .expect("the simulation signed the zone")
                .dnskey;
            let removed: Vec<u16> = sim
                .keys
                .iter()
                .filter(|k| k.state == KeyState::Removed)
                .map(|k| k.tag)
                .collect();
            assert!(
                !removed.is_empty(),
                "{cds:?} seed {seed}: no key was removed"
            );
            for tag in removed {
                assert!(
                    !last.iter().any(|d| d.0 == tag),
                    "removed key {tag} published"
                );
            }
        }
    }
}
