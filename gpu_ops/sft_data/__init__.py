"""sft_data room."""
