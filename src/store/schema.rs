//! Schema migrations. Each entry upgrades the database by one version and runs in a transaction;
//! never edit a released entry, append a new one.
//!
//! Timestamps are stored as `YYYY-MM-DDTHH:MM:SSZ` text: exactly what GitHub sends and what the
//! published datasets carry, and it sorts chronologically.

pub const MIGRATIONS: &[&str] = &[
    // v1: mining.
    r#"
    CREATE TABLE repos (
        repo            VARCHAR PRIMARY KEY,
        pulls_cursor    VARCHAR,   -- updated_at of the newest PR of the last complete listing
        last_mined_at   VARCHAR,
        last_error      VARCHAR
    );
    CREATE TABLE pulls (
        repo            VARCHAR NOT NULL,
        number          BIGINT  NOT NULL,
        title           VARCHAR NOT NULL,
        body            VARCHAR NOT NULL,
        created_at      VARCHAR NOT NULL,
        updated_at      VARCHAR NOT NULL,
        merged_at       VARCHAR,
        base_sha        VARCHAR NOT NULL,
        outcome         VARCHAR NOT NULL,  -- see PullOutcome
        detail          VARCHAR,           -- why it failed or was left out
        referenced      BIGINT[] NOT NULL, -- numbers named with a closing keyword
        issue_numbers   BIGINT[] NOT NULL, -- those that are issues
        first_commit_at VARCHAR,
        content_hash    VARCHAR NOT NULL,  -- of title and body: an edited PR is processed again
        processed_at    VARCHAR NOT NULL,
        PRIMARY KEY (repo, number)
    );
    CREATE TABLE issues (
        repo            VARCHAR NOT NULL,
        number          BIGINT  NOT NULL,
        is_pull         BOOLEAN NOT NULL,
        title           VARCHAR NOT NULL,
        body            VARCHAR NOT NULL,
        comment_count   BIGINT  NOT NULL,
        fetched_at      VARCHAR NOT NULL,
        PRIMARY KEY (repo, number)
    );
    CREATE TABLE instances (
        instance_id       VARCHAR PRIMARY KEY,
        repo              VARCHAR NOT NULL,
        pull_number       BIGINT  NOT NULL,
        issue_numbers     BIGINT[] NOT NULL,
        base_commit       VARCHAR NOT NULL,
        patch             VARCHAR NOT NULL,
        test_patch        VARCHAR NOT NULL,
        problem_statement VARCHAR NOT NULL,
        hints_text        VARCHAR NOT NULL,
        created_at        VARCHAR NOT NULL,
        source            VARCHAR NOT NULL,  -- mined | imported
        updated_at        VARCHAR NOT NULL
    );
    CREATE TABLE api_requests (
        repo     VARCHAR NOT NULL,
        kind     VARCHAR NOT NULL,
        requests BIGINT  NOT NULL,
        PRIMARY KEY (repo, kind)
    );
    "#,
    // v2: imported datasets keep their published values, to compare against.
    r#"
    CREATE TABLE published (
        instance_id              VARCHAR PRIMARY KEY,
        version                  VARCHAR,
        environment_setup_commit VARCHAR,
        source                   VARCHAR NOT NULL,  -- the file it came from
        imported_at              VARCHAR NOT NULL
    );
    -- FAIL_TO_PASS / PASS_TO_PASS, one row per test, in published order.
    CREATE TABLE published_tests (
        instance_id VARCHAR NOT NULL,
        list        VARCHAR NOT NULL,  -- FAIL_TO_PASS | PASS_TO_PASS
        position    INTEGER NOT NULL,
        test        VARCHAR NOT NULL,
        PRIMARY KEY (instance_id, list, position)
    );
    "#,
    // v3: versions per instance and, per (repo, version), the environment to build.
    r#"
    CREATE TABLE pins (
        instance_id VARCHAR PRIMARY KEY,
        repo        VARCHAR NOT NULL,
        version     VARCHAR,           -- MAJOR.MINOR; NULL when none was found (see reason)
        raw_version VARCHAR,           -- the text it came from
        method      VARCHAR,           -- file:<path> | tag:<tag> | fallback:<where>
        reason      VARCHAR,           -- why no version was found
        rule_hash   VARCHAR NOT NULL,  -- of the version rule used: a changed rule pins again
        pinned_at   VARCHAR NOT NULL
    );
    CREATE TABLE versions (
        repo          VARCHAR NOT NULL,
        version       VARCHAR NOT NULL,
        env_commit    VARCHAR NOT NULL,  -- base_commit of the version's most recently created instance
        python        VARCHAR NOT NULL,  -- X.Y wanted
        python_source VARCHAR NOT NULL,  -- recipe | classifiers:<file> | requires-python:<file> | default
        cutoff        VARCHAR NOT NULL,  -- env commit's date: installs resolve as of then
        instances     BIGINT  NOT NULL,
        recipe        VARCHAR NOT NULL,  -- embedded | file:<path> | none
        updated_at    VARCHAR NOT NULL,
        PRIMARY KEY (repo, version)
    );
    "#,
    // v4: images (base, environment, instance) and their checks.
    r#"
    CREATE TABLE images (
        tag           VARCHAR PRIMARY KEY,  -- content-addressed: a hash of every input
        tier          VARCHAR NOT NULL,     -- base | env | instance
        repo          VARCHAR,
        version       VARCHAR,
        instance_id   VARCHAR,
        parent        VARCHAR,              -- the image it is built on
        python_wanted VARCHAR,
        python_used   VARCHAR,              -- differs when the wanted Python was not available
        base_source   VARCHAR,              -- debootstrap:<suite> | registry:<image>
        recipe        VARCHAR,              -- embedded | file:<path> | suggested | none
        status        VARCHAR NOT NULL,     -- built | failed
        image_id      VARCHAR,
        size_bytes    BIGINT,               -- bytes this image adds over its parent (base: its whole size)
        checks        VARCHAR,              -- JSON: [{name, ok, detail}]
        error         VARCHAR,
        log_path      VARCHAR,
        seconds       DOUBLE,
        built_at      VARCHAR NOT NULL
    );
    "#,
    // v5: validation (per instance: outcome lists; per run: how it went; per test and run: status).
    r#"
    CREATE TABLE validations (
        instance_id   VARCHAR PRIMARY KEY,
        image         VARCHAR NOT NULL,   -- the instance image the runs used
        settings_hash VARCHAR NOT NULL,   -- image, test command, runs, limits: a change validates again
        status        VARCHAR NOT NULL,   -- curated | rejected
        reason        VARCHAR,            -- why not curated (see validate::Reason)
        detail        VARCHAR,
        runs          INTEGER NOT NULL,   -- runs per phase
        fail_to_pass  VARCHAR NOT NULL,   -- JSON lists of pytest node ids, sorted
        pass_to_pass  VARCHAR NOT NULL,
        fail_to_fail  VARCHAR NOT NULL,
        pass_to_fail  VARCHAR NOT NULL,
        flaky         VARCHAR NOT NULL,
        seconds       DOUBLE  NOT NULL,   -- wall time of all runs
        overhead      DOUBLE,             -- mean per run: container start to results, minus pytest's own time
        validated_at  VARCHAR NOT NULL
    );
    CREATE TABLE validation_runs (
        instance_id VARCHAR NOT NULL,
        phase       VARCHAR NOT NULL,     -- before | after
        run         INTEGER NOT NULL,     -- 1..K (also its PYTHONHASHSEED)
        outcome     VARCHAR NOT NULL,     -- ran | test_patch_does_not_apply | patch_does_not_apply | timeout | no_results
        exit_code   INTEGER,
        tests       INTEGER NOT NULL,
        source      VARCHAR NOT NULL,     -- plugin | log (the -rA fallback)
        seconds     DOUBLE  NOT NULL,
        test_seconds DOUBLE,
        log_path    VARCHAR,
        PRIMARY KEY (instance_id, phase, run)
    );
    CREATE TABLE test_results (
        instance_id VARCHAR NOT NULL,
        phase       VARCHAR NOT NULL,
        run         INTEGER NOT NULL,
        test        VARCHAR NOT NULL,
        status      VARCHAR NOT NULL      -- PASSED FAILED SKIPPED ERROR XFAIL XPASS
    );
    "#,
    // v6: SWE-bench Lite membership per instance (criteria in lite.rs), computed once by the stage
    // that creates or changes the instance and read by status, the lite split and the card.
    r#"
    CREATE TABLE lite (
        instance_id VARCHAR PRIMARY KEY,
        input_hash  VARCHAR NOT NULL,  -- of the criteria version, problem_statement, patch, test_patch
        rejections  VARCHAR NOT NULL,  -- JSON: [{code, detail}] per failed criterion; [] = in Lite
        checked_at  VARCHAR NOT NULL
    );
    "#,
    // v7: the recipe's environment an image was built with, so `validate` reads it back instead
    // of looking the recipe up again (which may have changed since, or have been suggested).
    r#"
    ALTER TABLE images ADD COLUMN env_spec VARCHAR;  -- JSON of recipe::EnvSpec; NULL for base images
    "#,
    // v8: scored predictions (`evaluate`, `serve`): one row per run id, instance and patch.
    r#"
    CREATE TABLE evaluations (
        run_id        VARCHAR NOT NULL,
        instance_id   VARCHAR NOT NULL,
        patch_hash    VARCHAR NOT NULL,  -- sha256 of the model patch as submitted
        model         VARCHAR NOT NULL,
        status        VARCHAR NOT NULL,  -- resolved unresolved empty_patch patch_does_not_apply error
        applied_with  VARCHAR,           -- git | patch | NULL (not applied / empty)
        tampered      VARCHAR NOT NULL,  -- JSON list of dropped paths
        detail        VARCHAR,
        image         VARCHAR,
        tests_source  VARCHAR,           -- validated | published: where the lists came from
        fail_to_pass_passed VARCHAR NOT NULL,  -- JSON lists
        fail_to_pass_failed VARCHAR NOT NULL,
        pass_to_pass_passed VARCHAR NOT NULL,
        pass_to_pass_failed VARCHAR NOT NULL,
        tests         VARCHAR NOT NULL,  -- JSON object: every test that reported, and its status
        seconds       DOUBLE NOT NULL,
        test_seconds  DOUBLE,
        evaluated_at  VARCHAR NOT NULL,
        PRIMARY KEY (run_id, instance_id, patch_hash)
    );
    "#,
];
