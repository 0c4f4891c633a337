"""The link service beside ``make up`` and the stack: its scoped identity and environment."""

from __future__ import annotations

from matinale.dev.links_local import links_command, links_env
from matinale.dev.s3_credentials import S3Credentials, identities_json, link_service_identity


def test_the_link_service_never_gets_the_admin_keys() -> None:
    admin, links = S3Credentials.generate(), S3Credentials.generate()
    base = {
        "AWS_ACCESS_KEY_ID": admin.access_key,
        "AWS_SECRET_ACCESS_KEY": admin.secret_key,
        "AIRFLOW_CONN_AWS_DEFAULT": '{"login": "admin"}',
        "MATINALE_LINKS_PUBLIC_URL": "http://127.0.0.1:8090",
    }
    env = links_env(base, "http://127.0.0.1:8333", links, MATINALE_LINKS_DB_URL="sqlite:///x")
    assert env["AWS_ACCESS_KEY_ID"] == links.access_key
    assert env["AWS_SECRET_ACCESS_KEY"] == links.secret_key
    assert "AIRFLOW_CONN_AWS_DEFAULT" not in env  # the CLI would prefer it to AWS_*
    assert admin.secret_key not in env.values()
    assert env["MATINALE_LINKS_DB_URL"] == "sqlite:///x"
    assert links_command(8090)[-4:] == ["--host", "127.0.0.1", "--port", "8090"]


def test_the_link_identity_is_read_only_and_scoped() -> None:
    keys = S3Credentials.generate()
    same = link_service_identity(keys, "bundle", "bundle", "links/")
    assert same.actions == ("Read:bundle", "List:bundle")
    own = link_service_identity(keys, "bundle", "state", "links")
    assert own.actions == ("Read:bundle", "List:bundle", "Read:state/links/*", "List:state")
    config = identities_json(S3Credentials.generate(), (own,))
    names = [(i["name"], i["actions"]) for i in config["identities"]]  # type: ignore[index,union-attr]
    assert names[0][0] == "matinale" and "Admin" in names[0][1]
    assert names[1] == ("links", list(own.actions))
