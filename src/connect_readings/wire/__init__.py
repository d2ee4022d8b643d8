"""The wire formats, in one place: how the service writes its answers and how the Python client reads them.

- `encode`: domain and use-case values → the JSON items of openapi.yaml (the server's side);
- `csv_rows`: those items → CSV rows, the fixed columns of each endpoint;
- `models`: the same items as typed msgspec Structs (the client's side; a test holds them to openapi.yaml);
- `frames`: results → pandas DataFrames, flattened as the CSV rows are.
"""
