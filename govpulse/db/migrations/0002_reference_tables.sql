-- Reference data shared by every namespace. The migration runner fills these tables from the
-- packaged CSV files on every run (parameterised upserts), so they never hold SQL literals here.
-- IF NOT EXISTS: each namespace's first migration runs this file again.

CREATE TABLE IF NOT EXISTS reference.agencies (
    code text NOT NULL,
    scheme text NOT NULL,  -- '2024' (63 provinces) or '2025' (34 provinces)
    name_vi text NOT NULL,
    name_en text NOT NULL,
    level text NOT NULL,  -- ministry | province | other
    kind text,  -- province | city for provinces, state_body | state_enterprise for others
    region text,
    lat double precision,
    lon double precision,
    weight double precision NOT NULL,
    merged_from text[] NOT NULL DEFAULT '{}',  -- 2025 provinces: the 2024 codes they absorbed
    PRIMARY KEY (scheme, code)
);

CREATE TABLE IF NOT EXISTS reference.ndxp_services (
    code text PRIMARY KEY,
    name_vi text NOT NULL,
    name_en text NOT NULL,
    kind text NOT NULL,
    provider text NOT NULL,
    verification boolean NOT NULL
);

CREATE TABLE IF NOT EXISTS reference.procedures (
    code text PRIMARY KEY,
    name_vi text NOT NULL,
    name_en text NOT NULL,
    field text NOT NULL,
    level text NOT NULL,
    fee_vnd bigint NOT NULL,
    due_working_days integer NOT NULL
);
