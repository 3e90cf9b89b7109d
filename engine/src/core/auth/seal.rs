//! Credentials at rest: BITS keeps a job's credentials for the job's life, encrypted before
//! they are persisted (spec §6.1, CryptoAPI). The journal holds them sealed with the
//! machine's key: encrypted with a keystream of HMAC-SHA256 in counter mode, then
//! authenticated with HMAC-SHA256 over nonce and ciphertext (encrypt-then-MAC), under two
//! keys derived from the machine key. A journal copied to another machine, or altered, does
//! not unseal; the job then has no credentials and its next challenge fails as it would
//! had none been set.

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::credentials::{Credential, CredentialStore};
use super::{AuthScheme, AuthTarget};

/// Bytes of fresh randomness per sealing: a nonce never repeats under one key.
pub const NONCE_LEN: usize = 16;
/// Bytes of the authentication tag.
const TAG_LEN: usize = 32;
/// One HMAC-SHA256 output: the keystream's block.
const BLOCK_LEN: usize = 32;

/// The machine's secret: what only this machine's engine can unseal with.
#[derive(Clone, Copy, Eq, PartialEq)]
pub struct MachineKey(pub [u8; 32]);

impl std::fmt::Debug for MachineKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MachineKey(..)")
    }
}

/// The plaintext form: the store's entries in order.
#[derive(Deserialize, Serialize)]
struct Entries(Vec<(AuthTarget, AuthScheme, Credential)>);

fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// XORs `data` with the keystream of `nonce` (its own inverse).
fn apply_keystream(key: &[u8; 32], nonce: &[u8], data: &mut [u8]) {
    for (counter, block) in data.chunks_mut(BLOCK_LEN).enumerate() {
        let stream = mac(key, &[nonce, &(counter as u64).to_be_bytes()]);
        block.iter_mut().zip(stream).for_each(|(byte, key)| *byte ^= key);
    }
}

fn subkeys(machine: &MachineKey) -> ([u8; 32], [u8; 32]) {
    (
        mac(&machine.0, &[b"bitsim credentials: encrypt"]),
        mac(&machine.0, &[b"bitsim credentials: authenticate"]),
    )
}

/// Seals a store: hex of `nonce ‖ ciphertext ‖ tag`. `None` for an empty store.
pub fn seal(
    machine: &MachineKey,
    nonce: [u8; NONCE_LEN],
    store: &CredentialStore,
) -> Option<String> {
    if store.is_empty() {
        return None;
    }
    let entries = Entries(store.entries().map(|((t, s), c)| (t, s, c.clone())).collect());
    let mut data = serde_json::to_vec(&entries).expect("credentials always serialize");
    let (encrypt, authenticate) = subkeys(machine);
    apply_keystream(&encrypt, &nonce, &mut data);
    let tag = mac(&authenticate, &[&nonce, &data]);
    let bytes = [&nonce[..], &data, &tag].concat();
    Some(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// Opens what [`seal`] made, or says why it cannot (never showing any of it).
pub fn unseal(machine: &MachineKey, sealed: &str) -> Result<CredentialStore, String> {
    let bytes = decode_hex(sealed).ok_or("sealed credentials are not hex")?;
    if bytes.len() < NONCE_LEN + TAG_LEN {
        return Err("sealed credentials are too short".to_owned());
    }
    let (nonce, rest) = bytes.split_at(NONCE_LEN);
    let (data, tag) = rest.split_at(rest.len() - TAG_LEN);
    let (encrypt, authenticate) = subkeys(machine);
    let expected = mac(&authenticate, &[nonce, data]);
    // Comparing every byte: how far a forged tag matched must not show in the timing.
    if expected.iter().zip(tag).fold(0u8, |diff, (a, b)| diff | (a ^ b)) != 0 {
        return Err(
            "sealed credentials do not authenticate: another machine's key, or altered".to_owned()
        );
    }
    let mut data = data.to_vec();
    apply_keystream(&encrypt, nonce, &mut data);
    let Entries(entries) =
        serde_json::from_slice(&data).map_err(|_| "sealed credentials do not decode".to_owned())?;
    let mut store = CredentialStore::default();
    for (target, scheme, credential) in entries {
        store.set(target, scheme, credential).map_err(|error| error.message)?;
    }
    Ok(store)
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> CredentialStore {
        let mut store = CredentialStore::default();
        store.set(AuthTarget::Proxy, AuthScheme::Ntlm, Credential::implicit()).unwrap();
        store
            .set(AuthTarget::Server, AuthScheme::Digest, Credential::explicit("alice", "s3cret-pw"))
            .unwrap();
        store
    }

    #[test]
    fn sealed_credentials_come_back_and_hide_the_password() {
        let key = MachineKey([7; 32]);
        let sealed = seal(&key, [1; NONCE_LEN], &store()).unwrap();
        assert!(
            !sealed.contains(&"s3cret".bytes().map(|b| format!("{b:02x}")).collect::<String>())
        );
        assert_eq!(unseal(&key, &sealed), Ok(store()));
        assert_ne!(
            seal(&key, [2; NONCE_LEN], &store()),
            Some(sealed),
            "a fresh nonce, fresh bytes"
        );
        assert_eq!(seal(&key, [1; NONCE_LEN], &CredentialStore::default()), None);
    }

    #[test]
    fn another_key_or_one_flipped_bit_does_not_unseal() {
        let sealed = seal(&MachineKey([7; 32]), [1; NONCE_LEN], &store()).unwrap();
        assert!(unseal(&MachineKey([8; 32]), &sealed).unwrap_err().contains("authenticate"));
        for at in [0, NONCE_LEN * 2 + 3, sealed.len() - 1] {
            let mut bytes = sealed.clone().into_bytes();
            bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
            let altered = String::from_utf8(bytes).unwrap();
            assert!(unseal(&MachineKey([7; 32]), &altered).is_err(), "bit at {at}");
        }
        assert!(unseal(&MachineKey([7; 32]), "zz").is_err());
        assert!(unseal(&MachineKey([7; 32]), "00").is_err());
    }
}
