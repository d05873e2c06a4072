#!/usr/bin/env python3
"""Self-test of scripts/check-layers: small src/ trees written to a temporary folder, each with one kind of fault
(an include up a layer, a header that declares what a higher layer defines, a cycle between .c files, an unknown
folder), and a clean one. Each fault must fail the check and print the offending include; the clean tree passes.
Run by CTest (check_layers_selftest); the check of the real tree is the check_layers test. Python 3 stdlib only."""
import os
import subprocess
import sys
import tempfile
import unittest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "check-layers")


def tree(files):
    root = tempfile.mkdtemp(prefix="check-layers-")
    for rel, text in files.items():
        path = os.path.join(root, "src", rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    return root


def check(files):
    p = subprocess.run([sys.executable, SCRIPT, tree(files)], capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


CLEAN = {
    "core/buf.h": "int buf_len(const char *s);\n",
    "core/buf.c": '#include "core/buf.h"\nint buf_len(const char *s)\n{\n    return s ? 1 : 0;\n}\n',
    "net/httpc.h": '#include "core/buf.h"\nint httpc_get(const char *url);\n',
    "net/httpc.c": '#include "net/httpc.h"\nint httpc_get(const char *url)\n{\n    return buf_len(url);\n}\n',
    "odoo/odoo.h": "int odoo_call(const char *m);\n",
    "odoo/odoo_client.c": '#include "odoo/odoo.h"\n#include "net/httpc.h"\n'
                          "int odoo_call(const char *m)\n{\n    return httpc_get(m);\n}\n",
    "flows/flows.h": "int flow_orders_run(void);\n",
    "flows/flow_orders.c": '#include "flows/flows.h"\n#include "odoo/odoo.h"\n'
                           'int flow_orders_run(void)\n{\n    return odoo_call("sale.order");\n}\n',
}


class CheckLayers(unittest.TestCase):
    def test_clean_tree_passes(self):
        rc, out = check(CLEAN)
        self.assertEqual(rc, 0, out)
        self.assertIn("check-layers: ok", out)

    def test_include_up_a_layer_fails_and_names_the_include(self):
        files = dict(CLEAN)
        files["odoo/odoo_client.c"] = ('#include "odoo/odoo.h"\n#include "net/httpc.h"\n#include "flows/flows.h"\n'
                                       "int odoo_call(const char *m)\n{\n    return httpc_get(m);\n}\n")
        rc, out = check(files)
        self.assertEqual(rc, 1, out)
        self.assertIn('src/odoo/odoo_client.c:3: #include "flows/flows.h" goes up', out)

    def test_sideways_include_between_clients_fails(self):
        files = dict(CLEAN)
        files["shopify/shopify.h"] = '#include "odoo/odoo.h"\nint shopify_get(void);\n'
        rc, out = check(files)
        self.assertEqual(rc, 1, out)
        self.assertIn('src/shopify/shopify.h:1: #include "odoo/odoo.h" goes sideways', out)

    def test_header_declaring_what_a_higher_layer_defines_fails(self):
        # odoo.h declares odoo_datetime, but a flow defines it: the client reaches up through its own header.
        files = dict(CLEAN)
        files["odoo/odoo.h"] = "int odoo_call(const char *m);\nint odoo_datetime(void);\n"
        files["odoo/odoo_client.c"] = ('#include "odoo/odoo.h"\n#include "net/httpc.h"\n'
                                       "int odoo_call(const char *m)\n{\n    return httpc_get(m) + odoo_datetime();\n}\n")
        files["flows/flow_orders.c"] += "int odoo_datetime(void)\n{\n    return 0;\n}\n"
        rc, out = check(files)
        self.assertEqual(rc, 1, out)
        self.assertIn('src/odoo/odoo_client.c:1: #include "odoo/odoo.h" reaches up into src/flows/flow_orders.c '
                      "(odoo_datetime)", out)

    def test_cycle_between_files_of_one_folder_fails_and_prints_each_include(self):
        files = dict(CLEAN)
        files["store/store.h"] = "int store_open(void);\nint store__sqlite_open(void);\nvoid job_free(void);\n"
        files["store/store.c"] = ('#include "store/store.h"\nint store_open(void)\n{\n    return store__sqlite_open();\n}\n'
                                  "void job_free(void)\n{\n}\n")
        files["store/store_sqlite.c"] = ('#include "store/store.h"\n\nint store__sqlite_open(void)\n{\n'
                                         "    job_free();\n    return 0;\n}\n")
        rc, out = check(files)
        self.assertEqual(rc, 1, out)
        self.assertIn("include cycle between 2 files (store.c, store_sqlite.c)", out)
        self.assertIn('src/store/store.c:1: #include "store/store.h" -> src/store/store_sqlite.c (store__sqlite_open)',
                      out)
        self.assertIn('src/store/store_sqlite.c:1: #include "store/store.h" -> src/store/store.c (job_free)', out)

    def test_a_comment_or_string_naming_a_function_is_no_call(self):
        files = dict(CLEAN)
        files["net/httpc.c"] = ('#include "net/httpc.h"\n/* not odoo_call(x) */\nint httpc_get(const char *url)\n'
                                '{\n    return buf_len("flow_orders_run()") + buf_len(url);\n}\n')
        rc, out = check(files)
        self.assertEqual(rc, 0, out)

    def test_unknown_folder_fails(self):
        files = dict(CLEAN)
        files["sync/sync.c"] = "int sync_x(void)\n{\n    return 0;\n}\n"
        rc, out = check(files)
        self.assertEqual(rc, 1, out)
        self.assertIn("folder src/sync/ has no layer", out)


if __name__ == "__main__":
    unittest.main()
