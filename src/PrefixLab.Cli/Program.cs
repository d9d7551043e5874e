using PrefixLab.Cli;

return CliApp.Run(args);
