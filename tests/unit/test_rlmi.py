import pytest

from smartbook_tui.presence import (
    Instance,
    InstanceState,
    MalformedDocument,
    Name,
    Resource,
    Rlmi,
    build_rlmi,
    parse_rlmi,
)

HEAD = '<list xmlns="urn:ietf:params:xml:ns:rlmi" uri="sip:rls@example.org"'


def test_parse_everything_rlmi_carries():
    document = (
        HEAD + ' version="7" fullState="false"><name xml:lang="en">Buddies</name>'
        '<resource uri="sip:bob@example.org"><name>Bob</name>'
        '<instance id="i1" state="active" cid="c1@x"/><instance id="i2" state="terminated" reason="rejected"/>'
        '<instance id="i3" state="bogus"/></resource><resource uri=""/><resource uri="sip:carol@example.org"/></list>'
    )
    assert parse_rlmi(document.encode()) == Rlmi(
        "sip:rls@example.org",
        7,
        False,
        (Name("Buddies", "en"),),
        (
            Resource(
                "sip:bob@example.org",
                (Name("Bob"),),
                (
                    Instance("i1", InstanceState.ACTIVE, cid="c1@x"),
                    Instance("i2", InstanceState.TERMINATED, reason="rejected"),
                ),
            ),
            Resource("sip:carol@example.org"),
        ),
    )


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ('fullState="true"', "version"),
        ('version="-1" fullState="true"', "version"),
        ('version="x" fullState="true"', "version"),
        ('version="1"', "fullState"),
        ('version="1" fullState="yes"', "fullState"),
    ],
)
def test_version_and_full_state_are_required(attributes, message):
    with pytest.raises(MalformedDocument, match=message):
        parse_rlmi(f"{HEAD} {attributes}/>".encode())


def test_build_round_trips():
    rlmi = Rlmi(
        "sip:rls@example.org",
        0,
        True,
        resources=(
            Resource(
                "sip:+33612345678@example.org;user=phone",
                (Name("A & B", "fr"),),
                (Instance("x", InstanceState.PENDING),),
            ),
        ),
    )
    assert parse_rlmi(build_rlmi(rlmi)) == rlmi
