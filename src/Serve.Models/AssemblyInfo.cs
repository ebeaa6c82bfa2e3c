namespace Serve.Models;
