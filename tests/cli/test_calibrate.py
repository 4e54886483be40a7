"""``dakd calibrate``'s refusals of a product path, before anything is read (the product runs: tests/io/sentinel1)."""

from engine.cli import main


def test_a_mistyped_product_path_is_named_as_missing_not_as_no_product(tmp_path, capsys):
    """It was "not a Sentinel-1 product; dakd calibrate takes a GRD .SAFE folder...": the path was only mistyped."""
    product = tmp_path / "S1A_IW_GRDH_1SDV.SAFE"
    assert main(["--progress", "none", "calibrate", str(product), "--out", str(tmp_path / "sigma0.tif")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip().splitlines() == [f"dakd: error: {product}: no such file or folder; check the path"]
    assert list(tmp_path.iterdir()) == []
