"""The plugin's windows: Fine-tune on my labels, Models, Settings, Check dependencies."""
