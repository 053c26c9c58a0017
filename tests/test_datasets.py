import re

import numpy as np
import pytest

from shrinkage.datasets import BUILTIN, CIFAR_RECORD, DataError, describe_builtin, load_dataset, read_features


@pytest.mark.parametrize("name,n_train,n_test,n_features,n_classes", describe_builtin())
def test_builtin_shapes_split_and_standardization(name, n_train, n_test, n_features, n_classes):
    ds = load_dataset(name)
    assert ds.X_train.shape == (n_train, n_features) and ds.X_test.shape == (n_test, n_features)
    assert ds.X_train.dtype == np.float32 and ds.X_test.dtype == np.float32
    assert len(np.unique(ds.y_train)) == n_classes
    varying = ds.X_train.std(axis=0) > 0
    np.testing.assert_allclose(ds.X_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(ds.X_train.std(axis=0)[varying], 1, rtol=1e-4)
    again = load_dataset(name)
    np.testing.assert_array_equal(ds.X_test, again.X_test)  # the split is fixed


def test_builtin_names_are_documented():
    assert set(BUILTIN) == {row[0] for row in describe_builtin()}


def test_mnist1d_keeps_the_global_numpy_random_state():
    load_dataset.__globals__["_mnist1d_arrays"].cache_clear()
    np.random.seed(123)
    expected = np.random.random(3)
    np.random.seed(123)
    load_dataset("mnist1d")
    np.testing.assert_array_equal(np.random.random(3), expected)


def write_cifar(path, labels, rng):
    pixels = rng.integers(0, 256, size=(len(labels), CIFAR_RECORD - 1), dtype=np.uint8)
    records = np.concatenate([np.array(labels, dtype=np.uint8)[:, None], pixels], axis=1)
    records.tofile(path)
    return pixels


def test_cifar10_binary_format(tmp_path):
    rng = np.random.default_rng(0)
    p1 = write_cifar(tmp_path / "data_batch_1.bin", [0, 1, 2, 3], rng)
    p2 = write_cifar(tmp_path / "data_batch_2.bin", [4, 5, 6, 9], rng)
    pt = write_cifar(tmp_path / "test_batch.bin", [7, 8], rng)
    ds = load_dataset(str(tmp_path))
    assert ds.X_train.shape == (8, 3072) and ds.X_test.shape == (2, 3072)
    np.testing.assert_array_equal(ds.y_train, [0, 1, 2, 3, 4, 5, 6, 9])
    np.testing.assert_array_equal(ds.y_test, [7, 8])
    raw = np.concatenate([p1, p2]).astype(np.float64) / 255
    mean, std = raw.mean(0), raw.std(0)
    std[std == 0] = 1
    np.testing.assert_allclose(ds.X_test, (pt / 255 - mean) / std, rtol=1e-5, atol=1e-5)


def test_cifar10_truncated_file_is_a_clear_error(tmp_path):
    write_cifar(tmp_path / "data_batch_1.bin", [0, 1], np.random.default_rng(0))
    (tmp_path / "test_batch.bin").write_bytes(b"\x01" * 100)
    with pytest.raises(DataError, match=r"test_batch.bin: size 100 bytes is not a multiple"):
        load_dataset(str(tmp_path))


def write_csv(path, text):
    path.write_text(text)
    return str(path)


def test_a_csv_with_a_byte_order_mark_reads_alike_and_one_not_in_utf8_says_so(tmp_path):
    text = "a,b,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40))
    plain, marked = write_csv(tmp_path / "plain.csv", text), tmp_path / "excel.csv"
    marked.write_text(text, encoding="utf-8-sig")  # as Excel's "CSV UTF-8" writes it
    assert load_dataset(str(marked)).feature_names == load_dataset(plain).feature_names == ["a", "b"]
    X, _ = read_features(str(marked), 2, columns=["b", "a"])
    np.testing.assert_array_equal(X, read_features(plain, 2, columns=["b", "a"])[0])
    latin = tmp_path / "latin.csv"
    latin.write_bytes("caf\u00e9,b,label\n1,2,0\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin.csv: not UTF-8 text \(byte 0xe9 at offset 3\); save it as UTF-8 CSV"):
        load_dataset(str(latin))


def test_blank_lines_in_a_csv_are_skipped(tmp_path):
    text = "a,b,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40))
    plain = load_dataset(write_csv(tmp_path / "plain.csv", text))
    spaced = load_dataset(write_csv(tmp_path / "spaced.csv", "\n" + text.replace("\n5,", "\n\n5,") + "\n \n"))
    np.testing.assert_array_equal(spaced.X_train, plain.X_train)
    np.testing.assert_array_equal(spaced.y_test, plain.y_test)


def test_csv_with_named_string_target(tmp_path):
    rows = "\n".join(f"{i},{i % 3 * 1.5},{'ab'[i % 2]}" for i in range(40))
    path = write_csv(tmp_path / "d.csv", "a,b,label\n" + rows + "\n")
    ds = load_dataset(path, target="label")
    assert ds.X_train.shape == (32, 2) and set(ds.y_train) == {"a", "b"}
    ds2 = load_dataset(path)  # default: the last column
    assert set(ds2.y_test) == {"a", "b"}


@pytest.mark.parametrize(
    "content,target,problem",
    [
        ("a,b,y\n1,2,0\n3,4,1\n", "label", "no target column 'label'"),
        ("a,b,y\n1,x,0\n3,4,1\n", None, "line 2, column 'b' holds 'x', not a number; every feature must be"),
        ("a,b,y\n1,2,0\n3, ,1\n", None, "line 3, column 'b' is empty (a missing value: fill it in or drop"),
        ("a,b,y\n1,2,0\n,,\n3,4,1\n", None, "line 3, column 'a' is empty"),  # a row of empty fields is a row
        ("a,b,y\n1,2,a\n3,4, \n5,6,b\n7,8,\n", None,
         "the label is missing in 2 of 4 rows (data rows 2, 4, counted from 1 after any header): fill them in"),
        ("a,b,y\n1,nan,0\n3,4,1\n", None, "features contain NaN or infinity"),
        ("a,b,y\n1,2,0\n3,4,0\n", None, "only one class"),
        ("a,b,y\n1,2\n3,4,0\n", None, "line 2 has a different number of fields"),
        ("a,b,y\n\n1,2\n3,4,0\n", None, "line 3 has a different number of fields"),  # the file's own lines
        ("a;b;y\n1;2;0\n3;4;1\n", None, "the header 'a;b;y' is one column: the file seems separated by ';'"),
        ("a,b,y\n", None, "expected a header row and at least one data row"),
        ("0.5,2,1\n1,2,0\n3,4,1\n", None, "the first row is numbers (0.5, 2, 1, ...), not column names"),
        ("1,1,0\n1,2,0\n3,4,1\n", None, "names repeat (1); if it is a data row, add a header row"),
        ("a,b,y\n1,2,0\n3,4,0\n5,6,1\n", None,
         "cannot make a stratified split: 1 of the 2 classes has a single row (1); each needs 2"),
        ("a,b,y\n" + "".join(f"{i},1,{i / 7}\n" for i in range(20)), None,
         "20 different labels in 20 rows (0.0, 0.14285714285714285, 0.2857142857142857, 0.42857142857142855, "
         "0.5714285714285714 and 15 more): they look like a continuous target, and shrinkage trains classifiers"),
        ("a,b,y\n" + "".join(f"{i},1,name{i % 15}\n" for i in range(20)), None,  # names: classes, however many
         "cannot make a stratified split: 10 of the 15 classes have a single row (name10, name11, name12, name13, "
         "name14 and 5 more)"),
        ("a,b,y\n1,2,x\n3,4,y\n5,6,x\n7,8,y\n", None,  # 20% of 4 rows is 1 row: it cannot hold both classes
         "4 rows are too few for a stratified split of 2 classes (80% to train on, 20% to test on): each part "
         "needs a row of every class; give at least 6 rows"),
        ("a,b,y\n1,2,0\n3,4," + "1" * 200_000 + "\n", None,  # over the csv module's field size limit
         "line 3 cannot be read as CSV (field larger than field limit (131072))"),
    ],
)
def test_bad_csv_is_one_line_naming_file_and_problem(tmp_path, content, target, problem):
    path = write_csv(tmp_path / "bad.csv", content)
    with pytest.raises(DataError) as info:
        load_dataset(path, target=target)
    message = str(info.value)
    assert message.startswith(path) and problem in message and "\n" not in message


def test_csv_header_of_integer_column_names_is_a_header(tmp_path):
    # pandas' DataFrame(X).to_csv(index=False) names the columns 0, 1, ...: that is a header, not data
    rows = "\n".join(f"{i * 0.5},{i % 2}" for i in range(20))
    ds = load_dataset(write_csv(tmp_path / "p.csv", "0,1\n" + rows + "\n"))
    assert len(ds.X_train) + len(ds.X_test) == 20


def test_npz_inputs(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(50, 3)), np.repeat([0, 1], 25)
    np.savez(tmp_path / "a.npz", X=X, y=y)
    assert load_dataset(str(tmp_path / "a.npz")).X_train.shape == (40, 3)
    np.savez(tmp_path / "b.npz", X=X, y=y, X_test=X[:5], y_test=y[:5])
    ds = load_dataset(str(tmp_path / "b.npz"))
    assert ds.X_train.shape == (50, 3) and ds.X_test.shape == (5, 3)


@pytest.mark.parametrize(
    "arrays,problem",
    [
        (dict(X=np.ones((4, 2))), "missing array 'y'"),
        (dict(X=np.array([["a", "b"], ["c", "d"]]), y=np.array([0, 1])), "array 'X' is not numeric"),
        (dict(X=np.array([[1.0, np.inf], [0, 1]]), y=np.array([0, 1])), "NaN or infinity"),
        (dict(X=np.ones((4, 2)), y=np.zeros(4)), "only one class"),
        (dict(X=np.ones((4, 2)), y=np.array([0, np.nan, 1, np.nan])), r"the label is missing in 2 of 4 rows \(data "
         r"rows 2, 4, counted from 1 after any header\)"),
        (dict(X=np.ones(4), y=np.array([0, 1, 0, 1])), r"expected a non-empty 2-D feature table; got shape \(4,\)"),
        (dict(X=np.ones((0, 2)), y=np.zeros(0)), r"expected a non-empty 2-D feature table; got shape \(0, 2\)"),
        (dict(X=np.array([[1, 2], [3, 4]], dtype=object), y=np.array([0, 1])), "not a readable .npz without pickle"),
    ],
)
def test_bad_npz(tmp_path, arrays, problem):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=problem) as info:
        load_dataset(str(path))
    assert str(info.value).startswith(str(path))


@pytest.mark.parametrize("write", [lambda path: path.write_text("hello"),
                                   lambda path: np.save(path.open("wb"), np.zeros((4, 2)))],  # an .npy named .npz
                         ids=["text", "npy"])
def test_a_file_that_is_no_npz_archive_says_so(tmp_path, write):
    path = tmp_path / "data.npz"
    write(path)
    with pytest.raises(DataError, match=r"data.npz: not an .npz archive \(a zip of arrays, as numpy.savez writes\)") \
            as info:
        load_dataset(str(path))
    assert "pickle" not in str(info.value)
    with pytest.raises(DataError, match="not an .npz archive"):
        read_features(str(path), 2)


def test_unknown_name_and_extension(tmp_path):
    with pytest.raises(DataError, match="not a built-in data set"):
        load_dataset("mnist")
    (tmp_path / "x.txt").write_text("1")
    with pytest.raises(DataError, match="unknown file type '.txt'"):
        load_dataset(str(tmp_path / "x.txt"))


def test_read_features_with_and_without_the_label_column(tmp_path):
    path = write_csv(tmp_path / "p.csv", "a,b,y\n1,2,0\n3,4,1\n")
    X, y = read_features(path, n_features=2)
    assert X.shape == (2, 2) and list(y) == [0, 1]
    path = write_csv(tmp_path / "q.csv", "a,b\n1,2\n3,4\n")
    X, y = read_features(path, n_features=2)
    assert X.shape == (2, 2) and y is None
    with pytest.raises(DataError, match="the model expects 3 features"):
        read_features(path, n_features=3)


@pytest.mark.parametrize("labels,expected", [
    (["1", "1.0", "0.0", "0", " 2.00 "], [1, 1, 0, 0, 2]),  # one class however a whole number is written
    (["0.5", "1.5", "0.5", "1.5", "0.5"], ["0.5", "1.5", "0.5", "1.5", "0.5"]),  # not whole: the text
    (["1e30", "0", "1e30", "0", "0"], ["1e30", "0", "1e30", "0", "0"]),  # beyond exact integers: the text
    (["cat", "1.0", "cat", "1.0", "cat"], ["cat", "1.0", "cat", "1.0", "cat"]),
])
def test_csv_labels_written_as_whole_floats_are_integers(tmp_path, labels, expected):
    rows = "".join(f"{k},{label}\n" for k, label in enumerate(labels))
    X, y = read_features(write_csv(tmp_path / "p.csv", "a,y\n" + rows), n_features=1)
    assert y.tolist() == expected and (y.dtype == np.int64) == isinstance(expected[0], int)


def test_an_unclosed_quote_in_a_label_is_named_not_read_as_the_rest_of_the_file(tmp_path):
    rows = [f"{k},{k % 2}" for k in range(40)]
    rows[20] = '20,"1'  # the quote swallows rows 21-39 into one label
    path = write_csv(tmp_path / "q.csv", "a,y\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match=re.escape('q.csv: line 22: the label opens a quote (") that is not closed on '
                                                  "that line, so the rest of the file reads as one label")):
        load_dataset(path)


def test_a_long_field_that_is_no_number_is_shown_cut(tmp_path):
    path = write_csv(tmp_path / "p.csv", "a,y\n" + "x" * 5000 + ",0\n1,1\n")
    with pytest.raises(DataError, match=re.escape("column 'a' holds 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'... "
                                                  "(5,000 characters), not a number")):
        read_features(path, n_features=1)


def test_read_features_of_a_single_row(tmp_path):
    path = write_csv(tmp_path / "one.csv", "a,b\n1,2\n")
    X, y = read_features(path, n_features=2)
    assert X.tolist() == [[1.0, 2.0]] and y is None
    with pytest.raises(DataError, match="expected a header row and at least one data row"):
        read_features(write_csv(tmp_path / "none.csv", "a,b\n"), n_features=2)


def test_read_features_finds_a_named_label_column_anywhere_or_goes_without_it(tmp_path):
    path = write_csv(tmp_path / "p.csv", "kind,a,b\ncat,1,2\ndog,3,4\n")
    X, y = read_features(path, n_features=2, target="kind")
    assert X.tolist() == [[1, 2], [3, 4]] and list(y) == ["cat", "dog"]
    X, y = read_features(write_csv(tmp_path / "q.csv", "a,b\n1,2\n"), n_features=2, target="kind")
    assert X.tolist() == [[1, 2]] and y is None  # the named column is absent, the features are all there
    with pytest.raises(DataError, match=r"no target column 'label'; columns are \['kind', 'a', 'b'\]"):
        read_features(path, n_features=2, target="label")


def test_cifar10_folder_missing_a_part_or_with_a_bad_label_is_a_clear_error(tmp_path):
    rng = np.random.default_rng(0)
    write_cifar(tmp_path / "data_batch_1.bin", [0, 1], rng)
    with pytest.raises(DataError, match="expected CIFAR-10 binary files data_batch_.*bin and test_batch.bin"):
        load_dataset(str(tmp_path))  # no test batch
    write_cifar(tmp_path / "test_batch.bin", [3, 10], rng)
    with pytest.raises(DataError, match=r"test_batch.bin: label byte 10 is outside 0-9"):
        load_dataset(str(tmp_path))


def test_read_features_of_an_npz(tmp_path):
    X = np.arange(6.0).reshape(3, 2)
    np.savez(tmp_path / "a.npz", X=X, y=np.array([0, 1, 0]))
    got, y = read_features(str(tmp_path / "a.npz"), n_features=2)
    assert got.tolist() == X.tolist() and y.tolist() == [0, 1, 0]
    np.savez(tmp_path / "b.npz", features=X)
    with pytest.raises(DataError, match=r"missing array 'X'; found \['features'\]"):
        read_features(str(tmp_path / "b.npz"), n_features=2)


@pytest.mark.parametrize("given,missing", [("X_test", "y_test"), ("y_test", "X_test")])
def test_npz_with_half_a_test_split_is_refused(tmp_path, given, missing):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(50, 3)), np.repeat([0, 1], 25)
    np.savez(tmp_path / "a.npz", X=X, y=y, **{given: X[:5] if given == "X_test" else y[:5]})
    with pytest.raises(DataError, match=f"has '{given}' but no '{missing}'; give both"):
        load_dataset(str(tmp_path / "a.npz"))


def test_a_csv_file_is_parsed_in_chunks_not_held_as_python_strings(tmp_path):
    # Read whole, a file's fields as Python strings and floats took ~14x its size (1.4 GB for a 95 MB file);
    # parsed a chunk of rows at a time, the peak is the array (twice, while the chunks are joined) and one chunk.
    import tracemalloc

    from shrinkage.datasets import _read_csv

    rng = np.random.default_rng(0)
    data = np.c_[rng.normal(size=(30_000, 20)), rng.integers(0, 2, 30_000)]
    path = tmp_path / "big.csv"
    np.savetxt(path, data, delimiter=",", fmt=["%.6f"] * 20 + ["%d"], comments="",
               header=",".join(f"c{i}" for i in range(21)))
    tracemalloc.start()
    try:
        X, y, _, _ = _read_csv(path, None)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_allclose(X, np.round(data[:, :20], 6))
    assert X.shape == (30_000, 20) and set(y) == {0, 1}
    assert peak < 3 * X.nbytes + 16 * 2**20, f"peak {peak / 2**20:.1f} MiB for a {X.nbytes / 2**20:.1f} MiB array"


def test_loading_float32_data_makes_no_float64_copy_of_it(tmp_path):
    # Standardizing computes in float64 a block of rows at a time: a float32 .npz of N MiB peaked near 7N
    # (float64 copies of X and of both splits); now under 4N: X, its split, one float64 temporary of the
    # training split (for its standard deviation).
    import tracemalloc

    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 500)).astype(np.float32)
    np.savez(tmp_path / "data.npz", X=X, y=rng.integers(0, 3, 4000))
    tracemalloc.start()
    try:
        ds = load_dataset(str(tmp_path / "data.npz"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert ds.X_train.dtype == np.float32
    assert peak < 4 * X.nbytes, f"peak {peak / X.nbytes:.1f} times the data set"
