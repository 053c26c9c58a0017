import json

import numpy as np

from shrinkage._runlog import data_id, differences, open_for_append, read_lines


def test_data_id_follows_the_contents_and_not_how_labels_are_held():
    X = np.arange(12, dtype=np.float32).reshape(4, 3)
    labels = ["a", "b", "a", "b"]
    assert data_id(X, np.array(labels)) == data_id(X.copy(), np.array(labels, dtype=object))  # text, not pointers
    changed = X.copy()
    changed[2, 1] += 1
    assert data_id(changed, np.array(labels)) != data_id(X, np.array(labels))
    assert data_id(X.reshape(3, 4), np.array(labels)) != data_id(X, np.array(labels))  # same bytes, other shape
    assert data_id(X.astype(np.float64), np.array(labels)) != data_id(X, np.array(labels))


def test_read_lines_skips_a_line_cut_by_a_kill(tmp_path):
    path = tmp_path / "log.jsonl"
    assert read_lines(path) == []
    path.write_text(json.dumps({"a": 1}) + "\n" + json.dumps({"b": 2}) + "\n" + '{"c": ')
    assert read_lines(path) == [{"a": 1}, {"b": 2}]


def test_open_for_append_keeps_every_line_and_ends_a_cut_one_first(tmp_path):
    path = tmp_path / "sub" / "log.jsonl"
    with open_for_append(path) as handle:  # a new file, in a new folder
        handle.write(b'{"a": 1}\n')
    with open(path, "a") as handle:
        handle.write('{"b": ')  # a kill in the middle of a line
    with open_for_append(path) as handle:
        handle.write(b'{"c": 3}\n')
    assert read_lines(path) == [{"a": 1}, {"c": 3}]
    assert path.read_text().splitlines() == ['{"a": 1}', '{"b": ', '{"c": 3}']


def test_differences_compare_settings_as_json_stores_them():
    setting = {"model": {"hidden_layer_sizes": (32,)}, "cv": 3}
    stored = json.loads(json.dumps(setting))
    assert differences(setting, stored) == []
    assert differences(setting, {**stored, "cv": 5}) == ["cv"]
    assert differences(setting, None) == ["cv", "model"]
