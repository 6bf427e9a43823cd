//! Unit tests of `tls`.

use super::*;

#[test]
fn the_ca_is_created_once_and_reused() {
    let dir = std::env::temp_dir().join(format!("dm-tls-{}", uuid::Uuid::new_v4()));
    from_dir(&dir).unwrap();
    let first = std::fs::read_to_string(dir.join(CA_FILE)).unwrap();
    from_dir(&dir).unwrap();
    assert_eq!(std::fs::read_to_string(dir.join(CA_FILE)).unwrap(), first);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_pair_is_refused_with_a_reason() {
    let dir = std::env::temp_dir().join(format!("dm-tls-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("c.pem"), "nope").unwrap();
    std::fs::write(dir.join("k.pem"), "nope").unwrap();
    let e = from_pair(&dir.join("c.pem"), &dir.join("k.pem")).unwrap_err();
    assert!(e.contains("certificate"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
