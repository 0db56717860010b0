//! Real builds of COPY and ADD: heredocs, `--chown`/`--chmod`, globs,
//! `.dockerignore`, tarballs, a file onto a directory, and sources outside
//! the context refused.

mod common;

use common::*;

#[test]
fn copy_from_outside_the_context_is_refused() {
    let fx = Fixture::new("FROM ferry.test/busybox:1\nCOPY ../secret /secret\n", &[]);
    let err = fx.build_with(&fx.opts()).0.unwrap_err().to_string();
    assert!(
        err.contains("Dockerfile:2:1") && err.contains("outside the build context"),
        "{err}"
    );
    let fx = Fixture::new("FROM ferry.test/busybox:1\nCOPY link /secret\n", &[]);
    std::os::unix::fs::symlink("/etc/hostname", fx.context.join("link")).unwrap();
    let err = fx.build_with(&fx.opts()).0.unwrap_err().to_string();
    assert!(err.contains("outside the build context"), "{err}");
}

#[test]
fn copy_add_heredoc_chown_chmod_globs_dockerignore_and_tarballs() {
    let df = "FROM ferry.test/busybox:1\n\
COPY --chown=nobody:nogroup --chmod=600 *.txt /data/\n\
COPY <<EOF /etc/app.conf\nport=$PORT\nEOF\n\
ADD bundle.tar /opt/\n\
COPY --exclude=*.tar . /ctx/\n\
RUN stat -c '%u:%g %a' /data/keep.txt > /perm && cat /opt/inner/x > /fromtar\n";
    let fx = Fixture::new(
        df,
        &[
            ("keep.txt", "k"),
            ("skip.txt", "s"),
            (".dockerignore", "skip.txt\n"),
        ],
    );
    // a small tarball in the context
    let tar_path = fx.context.join("bundle.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&tar_path).unwrap());
    let mut h = tar::Header::new_gnu();
    h.set_size(6);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    b.append_data(&mut h, "inner/x", &b"in tar"[..]).unwrap();
    b.finish().unwrap();
    drop(b);
    let mut opts = fx.opts();
    opts.build_args.insert("PORT".into(), "80".into());
    let built = fx.build_with(&opts).0.unwrap();
    let f = files(&built);
    assert!(
        f.contains_key("data/keep.txt") && !f.contains_key("data/skip.txt"),
        "{:?}",
        f.keys().collect::<Vec<_>>()
    );
    assert_eq!(f.get("perm").map(String::as_str), Some("65534:65534 600\n"));
    assert_eq!(f.get("fromtar").map(String::as_str), Some("in tar"));
    assert_eq!(
        f.get("etc/app.conf").map(String::as_str),
        Some("port=\n"),
        "ARG not declared: empty"
    );
    assert!(
        f.contains_key("ctx/Dockerfile")
            && !f.contains_key("ctx/bundle.tar")
            && !f.contains_key("ctx/skip.txt")
    );
}

#[test]
fn copy_of_a_file_onto_an_existing_directory_goes_inside_it() {
    let df = "FROM ferry.test/busybox:1\nCOPY app.py /tmp\nCOPY app.py /renamed.py\nWORKDIR /srv\nCOPY app.py .\n";
    let fx = Fixture::new(df, &[("app.py", "print()\n")]);
    let f = files(&fx.build());
    assert!(
        f.contains_key("tmp/app.py")
            && f.contains_key("renamed.py")
            && f.contains_key("srv/app.py"),
        "{:?}",
        f.keys().collect::<Vec<_>>()
    );
}
