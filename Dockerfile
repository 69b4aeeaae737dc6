# syntax=docker/dockerfile:1
# The alys-telemetry binary (demo node, governance node), built once and run as non-root.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so that a source change does not rebuild them.
COPY Cargo.toml Cargo.lock build.rs ./
COPY proto ./proto
RUN mkdir -p src benches \
 && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
 && echo 'fn main() {}' > benches/hot_path.rs && cp benches/hot_path.rs benches/mailbox.rs \
 && cargo build --release --locked \
 && rm -rf src
COPY src ./src
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin alys-telemetry

# glibc and libgcc, nothing else; runs as uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/alys-telemetry /usr/local/bin/alys-telemetry
USER nonroot
EXPOSE 9001 50051
ENTRYPOINT ["/usr/local/bin/alys-telemetry"]
CMD ["demo", "--listen", "0.0.0.0:9001"]
