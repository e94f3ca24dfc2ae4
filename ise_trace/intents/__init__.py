"""Stage I, Intent: structured intents sampled over Persona x Domain x Task x Complexity, rendered
to natural language by an LLM, validated, deduplicated and measured for diversity (see README.md)."""
