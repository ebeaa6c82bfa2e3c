Console.WriteLine("serve: commands arrive with their issues");
