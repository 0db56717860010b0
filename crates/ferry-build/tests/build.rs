//! Real builds: runc runs the RUN steps on a busybox base image made by the
//! image toolkit; results are checked by reading the layers back. Multi-stage
//! builds, the step cache, RUN and errors; COPY and ADD are in
//! `build_copy.rs`.

mod common;

use common::*;

const MULTI: &str = r#"
# a two-stage build: a busybox stage RUNs shell commands, scratch copies the result
ARG GREETING=hello
FROM ferry.test/busybox:1 AS build
ARG GREETING
ENV OUT=/work
WORKDIR $OUT
RUN echo "$GREETING from $(uname -s)" > out.txt \
 && mkdir -p gen && echo generated > gen/file
RUN rm -rf /tmp && ls / > /listing
RUN --network=none sh -c 'cat /proc/net/dev | grep -c : > /ifaces'
FROM scratch
COPY --from=build /work/out.txt /out.txt
COPY --from=build /work/gen /gen/
LABEL org.opencontainers.image.title="multi stage" version=${GREETING:-none}
EXPOSE 8080 53/udp
ENTRYPOINT ["/bin/app"]
CMD ["--serve"]
"#;

#[test]
fn multi_stage_build_runs_shell_in_runc_and_copies_into_scratch() {
    let fx = Fixture::new(MULTI, &[]);
    let built = fx.build();
    let f = files(&built);
    assert_eq!(
        f.get("out.txt").map(String::as_str),
        Some("hello from Linux\n"),
        "{f:?}"
    );
    assert_eq!(f.get("gen/file").map(String::as_str), Some("generated\n"));
    assert_eq!(
        f.len(),
        3,
        "only the copied files (and /gen) are in the final image: {f:?}"
    );
    let cfg = &built.config["config"];
    assert_eq!(cfg["Entrypoint"], serde_json::json!(["/bin/app"]));
    assert_eq!(cfg["Cmd"], serde_json::json!(["--serve"]));
    assert_eq!(
        cfg["Labels"]["version"], "none",
        "a meta ARG is out of scope unless the stage declares it"
    );
    assert_eq!(
        cfg["Labels"]["org.opencontainers.image.title"],
        "multi stage"
    );
    assert!(
        cfg["ExposedPorts"].get("8080/tcp").is_some()
            && cfg["ExposedPorts"].get("53/udp").is_some()
    );
    let history = built.config["history"].as_array().unwrap();
    assert_eq!(history.len(), 6);
    assert_eq!(
        history
            .iter()
            .filter(|h| h.get("empty_layer").is_none())
            .count(),
        2
    );

    // --target the first stage: its layers record the RUNs, including the
    // whiteout for the deleted /tmp and an empty network namespace (lo only).
    let mut opts = fx.opts();
    opts.target = Some("build".into());
    opts.build_args.insert("GREETING".into(), "hi".into());
    opts.build_args.insert("UNUSED".into(), "x".into());
    let (r, events) = fx.build_with(&opts);
    let stage = r.unwrap();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Warning(w) if w.contains("UNUSED"))),
        "{events:?}"
    );
    let f = files(&stage);
    assert_eq!(
        f.get(".wh.tmp").map(String::as_str),
        Some("<whiteout>"),
        "{:?}",
        f.keys().collect::<Vec<_>>()
    );
    assert_eq!(
        f.get("work/out.txt").map(String::as_str),
        Some("hi from Linux\n")
    );
    assert_eq!(
        f.get("ifaces").map(String::as_str),
        Some("1\n"),
        "only lo in the build's network namespace"
    );
    assert!(
        !f.contains_key("proc/") && !f.contains_key("dev/"),
        "mount points stay out of layers"
    );
    assert_eq!(stage.config["config"]["WorkingDir"], "/work");
    assert!(
        stage.config["config"]["Env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "OUT=/work")
    );
}

#[test]
fn same_build_twice_gives_identical_digests_and_is_fully_cached() {
    let fx = Fixture::new(MULTI, &[]);
    let one = fx.build();
    let two = fx.build();
    assert_eq!(one.digest(), two.digest());
    assert_eq!(
        two.steps_run, 0,
        "everything comes from the cache the second time"
    );
    // A fresh cache re-runs every step and still gives the same digest.
    let fx2 = Fixture::new(MULTI, &[]);
    let three = fx2.build();
    assert!(three.steps_run > 0);
    assert_eq!(one.digest(), three.digest());
}

#[test]
fn changing_one_file_reruns_only_the_steps_after_its_copy() {
    let df = "FROM ferry.test/busybox:1\nRUN echo base > /base\nCOPY a.txt /a.txt\nRUN cat /a.txt /base > /both\nCOPY b.txt /b.txt\nRUN cat /b.txt >> /both\n";
    let fx = Fixture::new(df, &[("a.txt", "a1\n"), ("b.txt", "b1\n")]);
    let first = fx.build();
    assert_eq!((first.steps_run, first.steps_cached), (5, 0));
    write(&fx.context.join("b.txt"), "b2\n");
    let second = fx.build();
    assert_eq!(
        (second.steps_run, second.steps_cached),
        (2, 3),
        "only COPY b.txt and the RUN after it run again"
    );
    assert_eq!(
        files(&second).get("both").map(String::as_str),
        Some("a1\nbase\nb2\n")
    );
    write(&fx.context.join("a.txt"), "a2\n");
    let third = fx.build();
    assert_eq!((third.steps_run, third.steps_cached), (4, 1));
    assert_eq!(
        files(&third).get("both").map(String::as_str),
        Some("a2\nbase\nb2\n")
    );
    // touching without changing content keeps the cache
    write(&fx.context.join("a.txt"), "a2\n");
    assert_eq!(fx.build().steps_run, 0);
}

#[test]
fn failing_run_reports_step_exit_code_and_output_tail() {
    let fx = Fixture::new(
        "FROM ferry.test/busybox:1\nRUN echo preparing && echo boom >&2 && exit 3\nCMD x\n",
        &[],
    );
    let (r, events) = fx.build_with(&fx.opts());
    let err = r.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::RunFailed { code: 3, .. }), "{msg}");
    assert!(
        msg.contains("Dockerfile:2")
            && msg.contains("exit code 3")
            && msg.contains("boom")
            && msg.contains("preparing"),
        "{msg}"
    );
    assert!(
        !events.iter().any(|e| matches!(e, Event::Done { .. })),
        "no image is produced"
    );
}

#[test]
fn bad_input_is_named() {
    let fx = Fixture::new("FROM ferry.test/busybox:1\nCOPY missing.txt /x\n", &[]);
    let err = fx.build_with(&fx.opts()).0.unwrap_err().to_string();
    assert!(
        err.contains("missing.txt") && err.contains("not found"),
        "{err}"
    );
    let mut opts = fx.opts();
    opts.target = Some("nope".into());
    let err = fx.build_with(&opts).0.unwrap_err().to_string();
    assert!(err.contains("target stage `nope` not found"), "{err}");
    let fx = Fixture::new("FROM --platform=linux/s390x ferry.test/busybox:1\n", &[]);
    let err = fx.build_with(&fx.opts()).0.unwrap_err().to_string();
    assert!(err.contains("cannot be built here"), "{err}");
    let fx = Fixture::new(
        "FROM ferry.test/busybox:1\nRUN --mount=type=secret,id=x true\n",
        &[],
    );
    let err = fx.build_with(&fx.opts()).0.unwrap_err().to_string();
    assert!(err.contains("only type=cache"), "{err}");
}

#[test]
fn run_heredoc_user_shell_and_cache_mounts() {
    let df = "FROM ferry.test/busybox:1\n\
SHELL [\"/bin/sh\", \"-ec\"]\n\
RUN <<EOF\n\
echo one > /one\n\
echo two >> /one\n\
EOF\n\
USER nobody\n\
RUN id -u > /tmp/uid\n\
USER root\n\
RUN --mount=type=cache,target=/var/cache/app echo run >> /var/cache/app/log && wc -l < /var/cache/app/log > /runs\n";
    let fx = Fixture::new(df, &[]);
    let first = fx.build();
    let f = files(&first);
    assert_eq!(f.get("one").map(String::as_str), Some("one\ntwo\n"));
    assert_eq!(f.get("tmp/uid").map(String::as_str), Some("65534\n"));
    assert_eq!(f.get("runs").map(String::as_str), Some("1\n"));
    assert!(
        !f.keys().any(|k| k.starts_with("var/cache/app/")),
        "cache mounts stay out of layers: {f:?}"
    );
    assert_eq!(
        first.config["config"]["Shell"],
        serde_json::json!(["/bin/sh", "-ec"])
    );
    // --no-cache runs every step again; the cache mount keeps its content
    let mut opts = fx.opts();
    opts.no_cache = true;
    let second = fx.build_with(&opts).0.unwrap();
    assert_eq!(files(&second).get("runs").map(String::as_str), Some("2\n"));
}
