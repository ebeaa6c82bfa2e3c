namespace Serve.Llama;
