"""What is sent to a model fits its context; the record keeps everything."""

from ise_trace.simulate.context import estimate_tokens, fit_to_context


def _conversation(n_calls: int, output_chars: int) -> list[dict]:
    msgs = [{"role": "system", "content": "you are an agent"}, {"role": "user", "content": "go"}]
    for i in range(n_calls):
        msgs.append({"role": "assistant", "content": None, "tool_calls": [{"id": f"c{i}", "type": "function",
                     "function": {"name": "exec", "arguments": {"command": "cat big.log"}}}]})
        msgs.append({"role": "tool", "tool_call_id": f"c{i}", "name": "exec", "content": f"out {i} " + "y" * output_chars})
    msgs.append({"role": "user", "content": "and now?"})
    return msgs


def test_a_conversation_that_fits_is_sent_as_it_is():
    msgs = _conversation(2, 100)
    assert fit_to_context(msgs, 8192) is msgs


def test_old_tool_outputs_are_elided_with_a_marker_until_it_fits_and_the_record_is_untouched():
    msgs = _conversation(120, 64 * 1024)  # 120 calls of 64 KiB: millions of tokens whole
    before = [dict(m) for m in msgs]
    sent = fit_to_context(msgs, 8192)
    assert estimate_tokens(sent) <= 8192
    assert msgs == before  # the stored transcript keeps every byte
    assert sent[0] == msgs[0] and sent[-1] == msgs[-1]  # the system prompt and the question intact
    assert sent[-2]["content"].startswith("out 119") and sent[-2]["content"].endswith("y" * 100)
    assert all(m.get("tool_call_id") in {c["id"] for a in sent if a.get("tool_calls") for c in a["tool_calls"]}
               for m in sent if m["role"] == "tool")  # no result without its call
    assert any("elided to fit the context" in (m.get("content") or "") for m in sent)


def test_a_long_conversation_with_small_outputs_fits_by_eliding_bodies():
    msgs = _conversation(30, 2000)
    sent = fit_to_context(msgs, 8192)
    assert estimate_tokens(sent) <= 8192 and len(sent) == len(msgs)
    assert "elided to fit the context" in sent[3]["content"] and sent[3]["content"].startswith("out 0")
