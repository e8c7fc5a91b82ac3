"""The Python module `hearth` (bindings/python) on stories260K, against llama.cpp's references: its token ids,
its greedy text (llama-simple) and its embeddings (llama-embedding, tests/data/embeddings_stories260K.json).
Run by ctest with PYTHONPATH set to the built module and HEARTH_FIXTURES to ../shared/fixtures."""
import json
import math
import os
import unittest

import hearth

FIXTURES = os.environ.get("HEARTH_FIXTURES", "")
STORIES = os.path.join(FIXTURES, "stories260K", "stories260K.gguf")
REFERENCE = os.path.join(FIXTURES, "stories260K", "expected", "llama.cpp-c392e50",
                         "stories260K.llama-simple_n200_prompt-Once-upon-a-time.txt")
EMBEDDINGS = os.path.join(os.path.dirname(__file__), "..", "data", "embeddings_stories260K.json")


@unittest.skipUnless(os.path.exists(STORIES), "needs ../shared/fixtures")
class StoriesThroughPython(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = hearth.Model(STORIES, n_threads=2, n_gpu_layers=0)

    def test_info_and_tokens(self):
        self.assertEqual(self.m.info["arch"], "llama")
        self.assertEqual(self.m.info["n_vocab"], 512)
        ids = self.m.tokenize("Once upon a time")
        self.assertEqual(ids, [1, 403, 407, 261, 378])
        self.assertEqual(self.m.detokenize(ids[1:]), "Once upon a time")
        with self.assertRaises(hearth.Error):
            self.m.detokenize([9999])

    def test_greedy_text_is_llama_cpps(self):
        with open(REFERENCE, encoding="utf-8") as f:
            reference = f.read()
        pieces = []
        text = self.m.generate("Once upon a time", max_tokens=80, temperature=0, on_text=pieces.append)
        self.assertGreater(len(text), 200)
        self.assertEqual("".join(pieces), text)
        self.assertTrue(reference.startswith("<s> Once upon a time" + text))

    def test_control_tokens_add_no_text(self):
        # Greedy from "One day", stories260K writes <s> (BOS) before its next story; llama.cpp shows nothing.
        text = self.m.generate("One day", max_tokens=250, temperature=0)
        self.assertNotIn("<s>", text)
        self.assertIn("had fun. Once upon a time", text)

    def test_callback_stops_and_raises(self):
        seen = []
        text = self.m.generate("Once upon a time", max_tokens=50, temperature=0,
                               on_text=lambda t: seen.append(t) or len(seen) < 3)
        self.assertEqual(len(seen), 3)
        self.assertEqual(text, "".join(seen))

        def boom(_):
            raise ValueError("stop here")
        with self.assertRaisesRegex(ValueError, "stop here"):
            self.m.generate("Once upon a time", max_tokens=5, on_text=boom)

    def test_bad_input_is_an_error(self):
        with self.assertRaises(TypeError):
            self.m.generate("x", max_token=5)
        with self.assertRaisesRegex(hearth.Error, "anyOf"):
            self.m.generate("x", json_schema='{"anyOf": []}')
        with self.assertRaises(hearth.Error):
            self.m.generate("Once upon a time there was a girl", n_ctx=4)
        with self.assertRaisesRegex(hearth.Error, "/nonexistent.gguf"):
            hearth.Model("/nonexistent.gguf")

    def test_json_mode_and_chat(self):
        text = self.m.generate("Once upon a time", max_tokens=30, temperature=0, json=True)
        self.assertEqual(text.lstrip()[:1], "{")
        reply = self.m.chat([{"role": "user", "content": "Tell me a story."}], max_tokens=8, temperature=0)
        self.assertIsInstance(reply, str)
        with self.assertRaises(hearth.Error):
            self.m.chat([{"content": "no role"}])

    def test_json_schema_as_a_dict(self):
        # Issue 15: a dict failed with a pybind cast error; it is serialized, keeping the properties' order.
        schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}}
        text = self.m.generate("Once upon a time", max_tokens=40, temperature=0, json_schema=schema)
        self.assertEqual(text, self.m.generate("Once upon a time", max_tokens=40, temperature=0,
                                               json_schema=json.dumps(schema)))
        self.assertRegex(text, r'^\s*\{\s*"name"')
        with self.assertRaisesRegex(hearth.Error, "anyOf"):
            self.m.generate("x", json_schema={"anyOf": []})
        with self.assertRaises(TypeError):
            self.m.generate("x", json_schema=42)
        # Limits of the library, not a crash: depth and size are named.
        deep = "{}"
        for _ in range(200):
            deep = '{"type": "object", "properties": {"a": ' + deep + "}}"
        with self.assertRaisesRegex(hearth.Error, "deeper than 64"):
            self.m.generate("x", json_schema=deep)
        wide = {"type": "object", "properties": {f"p{i}": {"type": "integer"} for i in range(5000)}}
        with self.assertRaisesRegex(hearth.Error, "more than 1000"):
            self.m.generate("x", json_schema=wide)

    def test_choices(self):
        scores = self.m.choices("Once upon a time, there was a little girl named", ["Lily", "Tom"])
        self.assertEqual([s["text"] for s in scores], ["Lily", "Tom"])
        self.assertAlmostEqual(sum(s["probability"] for s in scores), 1.0, places=9)
        self.assertGreater(scores[0]["probability"], scores[1]["probability"])
        with self.assertRaises(hearth.Error):
            self.m.choices("x", [])

    def test_embeddings_are_llama_cpps(self):
        with open(EMBEDDINGS, encoding="utf-8") as f:
            ref = json.load(f)
        run = next(r for r in ref["runs"] if r["pooling"] == "mean" and r["embd_normalize"] == 2)
        for prompt, want in zip(ref["prompts"], run["embeddings"]):
            got = self.m.embed(prompt)
            self.assertEqual(len(got), len(want))
            # As tests/embed_test.cpp: both engines keep the KV cache in F16 and sum in other orders.
            scale = max(abs(v) for v in want)
            self.assertLess(max(abs(a - b) for a, b in zip(got, want)), 5e-4 * scale, prompt)
            self.assertAlmostEqual(math.sqrt(sum(v * v for v in got)), 1.0, places=5)


if __name__ == "__main__":
    unittest.main()
