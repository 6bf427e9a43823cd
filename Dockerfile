# defender-mock: a fully static binary in a FROM scratch image (fixtures are embedded).
#
#   docker build -t defender-mock .
#   docker run --rm -p 5088:5088 defender-mock
#
# Volumes (optional, mount what you use):
#   /fixtures   custom machine / apps.json / users.json fixtures: add -e DEFENDER_MOCK_FIXTURES=/fixtures
#   /data/tls   the development CA for --tls (DEFENDER_MOCK_TLS=true), kept across runs. The image
#               ships it empty and owned by uid 65532, so a named volume (-v dm-tls:/data/tls)
#               works as is. A host folder must be writable by the container's user:
#                 mkdir -p tls && docker run --user "$(id -u):$(id -g)" -v "$PWD/tls:/data/tls" ...
#               (rootless podman: --userns=keep-id instead of --user), or `sudo chown 65532 tls`.
# Every flag has an env twin (DEFENDER_MOCK_*); see the README.
#
# The `build` stage can be replaced by a folder holding out/defender-mock (and out/data/tls):
#   podman build --build-context build=DIR .     (what docker/verify.sh does, with no registry)

FROM docker.io/library/rust:1-bookworm AS build
WORKDIR /src
COPY . .
# glibc with crt-static: one static binary, no libc in the runtime image.
RUN target="$(uname -m)-unknown-linux-gnu" \
 && RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --locked --target "$target" \
 && mkdir -p /out/data/tls \
 && cp "target/$target/release/defender-mock" /out/defender-mock

FROM scratch
LABEL org.opencontainers.image.title="defender-mock" \
      org.opencontainers.image.description="Local emulator of the Microsoft Defender for Endpoint REST API" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.documentation="README.md in the source tree"
COPY --from=build /out/defender-mock /defender-mock
COPY --from=build --chown=65532:65532 /out/data /data
ENV DEFENDER_MOCK_LISTEN=0.0.0.0:5088 \
    DEFENDER_MOCK_TLS_DIR=/data/tls
USER 65532:65532
EXPOSE 5088
# The check is the binary itself, probing /_mock/health at DEFENDER_MOCK_LISTEN, over HTTPS when
# DEFENDER_MOCK_TLS (or DEFENDER_MOCK_TLS_CERT) is set: it follows a custom port and TLS, needs no
# curl, and prints why it is unhealthy (docker inspect shows it). Exec form: a scratch image has no
# shell, so a CMD-SHELL check (docker run --health-cmd, compose `test: "..."`) could never pass.
HEALTHCHECK --interval=5s --timeout=3s --start-period=2s --retries=3 CMD ["/defender-mock", "health"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/defender-mock"]
CMD ["serve"]
