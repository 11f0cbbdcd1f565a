import pytest

from smartbook_tui.password_file import PasswordFileError, read_password_file


def test_the_password_without_its_line_breaks_and_bom(tmp_path):
    path = tmp_path / "pw"
    path.write_bytes(b"\xef\xbb\xbfs3cr3t with spaces \r\n")
    assert read_password_file(path) == "s3cr3t with spaces "


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read the password file {}: No such file or directory"),
        (b"\r\n", "the password file {} holds no password"),
        (b"\xff\xfe", "the password file {} is not UTF-8 text"),
    ],
)
def test_one_line_refusals_naming_the_file(tmp_path, content, message):
    path = tmp_path / "pw"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(PasswordFileError) as refused:
        read_password_file(path)
    assert str(refused.value) == message.format(path)
