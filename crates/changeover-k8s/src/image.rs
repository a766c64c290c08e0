//! Guessing from an image reference whether the image has a shell.
//!
//! Only the name is available to a linter, so this recognises the well-known shell-less families
//! by name and says nothing about the rest: distroless images (except their `:debug` tags, which
//! add busybox), Chainguard's `static` image (the default base of `ko`), and images named
//! `scratch`, and `ko://` references (ko's default base is Chainguard's static image).

/// Why `image` most likely has no shell (nor `sleep`), or `None` when nothing suggests so.
///
/// ```
/// use changeover_k8s::image::shell_less_reason;
/// assert!(shell_less_reason("gcr.io/distroless/static-debian12:nonroot").is_some());
/// assert!(shell_less_reason("gcr.io/distroless/base:debug").is_none());
/// assert!(shell_less_reason("cgr.dev/chainguard/static@sha256:abcd").is_some());
/// assert!(shell_less_reason("nginx:1.27").is_none());
/// ```
pub fn shell_less_reason(image: &str) -> Option<&'static str> {
    let image = image.trim().to_ascii_lowercase();
    if image.starts_with("ko://") {
        return Some(
            "ko builds `ko://` images on a distroless base (cgr.dev/chainguard/static by default), with no shell and no `sleep`",
        );
    }
    let without_digest = image.split('@').next().unwrap_or("");
    let last_slash = without_digest.rfind('/').map_or(0, |i| i + 1);
    let (path, tag) = match without_digest[last_slash..].find(':') {
        Some(i) => without_digest.split_at(last_slash + i),
        None => (without_digest, ""),
    };
    let components: Vec<&str> = path.split('/').collect();
    let last = components.last().copied().unwrap_or("");
    if components.iter().any(|c| c.contains("distroless")) && !tag.contains("debug") {
        return Some("distroless images ship no shell and no `sleep` (only their :debug tags do)");
    }
    if last == "static" && components.iter().any(|c| c.contains("chainguard")) {
        return Some("Chainguard's static image ships no shell and no `sleep`");
    }
    if last == "scratch" || last.ends_with("-scratch") {
        return Some("an image built FROM scratch holds only the files copied into it");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families() {
        for image in [
            "gcr.io/distroless/static",
            "GCR.IO/DISTROLESS/JAVA21-DEBIAN12",
            "registry.example/team/app-distroless:1.0",
            "chainguard/static:latest",
            "cgr.dev/chainguard/static:latest",
            "scratch",
            "example.com/base/scratch:1",
            "ko://github.com/example/app/cmd/server",
        ] {
            assert!(shell_less_reason(image).is_some(), "{image}");
        }
        for image in [
            "gcr.io/distroless/static:debug-nonroot",
            "cgr.dev/chainguard/nginx",
            "busybox",
            "localhost:5000/app:static",
            "example.com/static-site:v1",
        ] {
            assert!(shell_less_reason(image).is_none(), "{image}");
        }
    }
}
