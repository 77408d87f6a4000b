//! Which callback URLs are acceptable, and which addresses `deny_private_addresses` refuses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest callback URL.
pub const MAX_URL_LEN: usize = 2048;

/// True for a loopback, private, link-local, multicast, broadcast or unspecified address (an
/// IPv4-mapped IPv6 address is judged as its IPv4 address).
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_private_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private_v4(v4);
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xffc0) == 0xfe80 // link-local
                || (first & 0xfe00) == 0xfc00 // unique local (private)
                || v6 == Ipv6Addr::from(1u128)
        }
    }
}

fn is_private_v4(v4: Ipv4Addr) -> bool {
    v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_multicast()
        || v4.is_broadcast()
        || v4.is_unspecified()
        || v4.octets()[0] == 0
        // Shared address space (carrier-grade NAT), 100.64.0.0/10: private in practice.
        || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
}

/// Checks a configured URL: absolute `http://` or `https://` with a host, at most
/// [`MAX_URL_LEN`] characters, and with `deny_private`, a host that neither is nor resolves to a
/// private address. Answers the reason when it is refused.
pub async fn check_url(url: &str, deny_private: bool) -> Result<reqwest::Url, String> {
    let n = url.chars().count();
    if n == 0 || n > MAX_URL_LEN {
        return Err(format!(
            "the callback address must be 1-{MAX_URL_LEN} characters, got {n}"
        ));
    }
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| format!("the callback address {url:?} is not an absolute URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "the callback address must start with http:// or https://, got {url:?}"
        ));
    }
    let Some(host) = parsed.host() else {
        return Err(format!("the callback address {url:?} has no host"));
    };
    if deny_private && let Some(ip) = private_target(&host, parsed.port_or_known_default()).await {
        return Err(format!(
            "address not allowed: {url:?} reaches the private address {ip} (deny_private_addresses)"
        ));
    }
    Ok(parsed)
}

/// The first private address `host` is or resolves to, if any (a host that does not resolve
/// has none).
pub async fn private_target(host: &url::Host<&str>, port: Option<u16>) -> Option<IpAddr> {
    let port = port.unwrap_or(443);
    match host {
        url::Host::Ipv4(ip) => is_private(IpAddr::V4(*ip)).then_some(IpAddr::V4(*ip)),
        url::Host::Ipv6(ip) => is_private(IpAddr::V6(*ip)).then_some(IpAddr::V6(*ip)),
        url::Host::Domain(name) => match tokio::net::lookup_host((*name, port)).await {
            Ok(addrs) => addrs.map(|a| a.ip()).find(|ip| is_private(*ip)),
            Err(_) => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_recognized() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "224.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "100.64.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_private(a.parse().unwrap()), "{a}");
        }
        for a in ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "100.128.0.1"] {
            assert!(!is_private(a.parse().unwrap()), "{a}");
        }
    }

    #[tokio::test]
    async fn urls_must_be_absolute_http_with_a_host() {
        for bad in ["", "ftp://x/", "/relative", "http://", "mailto:a@b", "x"] {
            assert!(check_url(bad, false).await.is_err(), "{bad:?}");
        }
        let long = format!("http://a.example/{}", "x".repeat(MAX_URL_LEN));
        assert!(check_url(&long, false).await.is_err());
        assert!(check_url("http://127.0.0.1:9/cb?x=1", false).await.is_ok());
        let refused = check_url("http://127.0.0.1:9/cb", true).await.unwrap_err();
        assert!(refused.contains("address not allowed"), "{refused}");
        assert!(check_url("http://localhost:9/", true).await.is_err());
        assert!(check_url("https://[::1]/", true).await.is_err());
    }
}
