//! Order ids submit-order assigns: `ord-` and 26 Crockford base32 characters (128 bits), valid
//! under the order-id rules (at most 64 of A-Z, a-z, 0-9, '_', '-').

use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// 128 bits as 26 Crockford base32 characters, most significant first (the top two of the
/// 130 encoded bits are zero), so ids sort like their numbers.
fn crockford(value: u128) -> String {
    (0..26)
        .rev()
        .map(|digit| CROCKFORD[((value >> (digit * 5)) & 31) as usize] as char)
        .collect()
}

/// A ULID-like id: the milliseconds since the epoch (48 bits, so ids sort by creation time)
/// followed by 80 bits of `random`.
pub fn ulid_like(at: SystemTime, random: [u8; 10]) -> String {
    let millis = at
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_millis())
        .unwrap_or_default()
        & ((1u128 << 48) - 1);
    let random = random
        .iter()
        .fold(0u128, |acc, byte| (acc << 8) | u128::from(*byte));
    format!("ord-{}", crockford((millis << 80) | random))
}

/// A fresh random id at `at`, from the operating system's random source.
pub fn random_order_id(at: SystemTime) -> Result<String, getrandom::Error> {
    let mut random = [0u8; 10];
    getrandom::fill(&mut random)?;
    Ok(ulid_like(at, random))
}

/// The id of an order submitted without `order_id` under `idempotency_key`: the same key always
/// names the same order, so a retried submission finds the order its first attempt created.
pub fn from_idempotency_key(idempotency_key: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"orderflow submit-order idempotency key\n")
        .chain_update(idempotency_key.as_bytes())
        .finalize();
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    format!("ord-{}", crockford(u128::from_be_bytes(first)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::time::Duration;

    #[test]
    fn ulid_like_ids_encode_time_then_randomness() {
        let at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let id = ulid_like(at, [0; 10]);
        assert_eq!(id.len(), 30);
        // 1_700_000_000_123 ms in 48 bits, then 80 zero bits.
        assert_eq!(
            id,
            format!("ord-{}", crockford(1_700_000_000_123u128 << 80))
        );
        assert!(id.ends_with("0000000000000000"));
        let all_ones = ulid_like(at, [0xff; 10]);
        assert!(all_ones.ends_with("ZZZZZZZZZZZZZZZZ"), "{all_ones}");
        // Later instants sort after earlier ones.
        assert!(ulid_like(at + Duration::from_millis(1), [0; 10]) > all_ones);
        assert!(order_domain::order_id_problems(&id).is_empty());
    }

    #[test]
    fn random_ids_are_unique_and_valid() {
        let at = SystemTime::now();
        let ids: HashSet<String> = (0..1000).map(|_| random_order_id(at).unwrap()).collect();
        assert_eq!(ids.len(), 1000);
        for id in ids.iter().take(20) {
            assert!(order_domain::order_id_problems(id).is_empty(), "{id}");
        }
    }

    #[test]
    fn key_derived_ids_are_stable_and_distinct() {
        let a = from_idempotency_key("key-1");
        assert_eq!(a, from_idempotency_key("key-1"));
        assert_ne!(a, from_idempotency_key("key-2"));
        assert_ne!(a, from_idempotency_key("key-1 "));
        assert_eq!(a.len(), 30);
        assert!(order_domain::order_id_problems(&a).is_empty(), "{a}");
    }

    #[test]
    fn crockford_digits() {
        assert_eq!(crockford(0), "0".repeat(26));
        assert_eq!(crockford(31), format!("{}Z", "0".repeat(25)));
        assert_eq!(crockford(32), format!("{}10", "0".repeat(24)));
        assert_eq!(crockford(u128::MAX), format!("7{}", "Z".repeat(25)));
    }
}
