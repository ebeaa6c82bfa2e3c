namespace Serve.Gguf;
