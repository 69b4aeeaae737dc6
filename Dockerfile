# syntax=docker/dockerfile:1
# The alys-telemetry command (demo node, governance node) of the alys-node package, built
# once and run as non-root.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so that a source change does not rebuild them: the workspace's
# manifests with stub sources.
COPY Cargo.toml Cargo.lock build.rs ./
COPY node/Cargo.toml ./node/
COPY test-support/Cargo.toml ./test-support/
COPY proto ./proto
RUN mkdir -p src benches node/src test-support/src \
 && touch src/lib.rs node/src/lib.rs test-support/src/lib.rs \
 && echo 'fn main() {}' > node/src/main.rs \
 && echo 'fn main() {}' > benches/hot_path.rs && cp benches/hot_path.rs benches/mailbox.rs \
 && cargo build --release --locked -p alys-node \
 && rm -rf src node/src
COPY src ./src
COPY node/src ./node/src
RUN touch src/lib.rs node/src/lib.rs node/src/main.rs \
 && cargo build --release --locked -p alys-node --bin alys-telemetry

# glibc and libgcc, nothing else; runs as uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/alys-telemetry /usr/local/bin/alys-telemetry
USER nonroot
EXPOSE 9001 50051
ENTRYPOINT ["/usr/local/bin/alys-telemetry"]
CMD ["demo", "--listen", "0.0.0.0:9001"]
