using GruService.Cli;

// gruservice: command-line tools over the engine. Only one command so far: reproducing the bundled default models.
return args switch
{
    ["train-bundled", .. var rest] => BundledModels.Run(rest),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("""
        usage: gruservice train-bundled [--data DIR] [--fashion-mnist DIR] [--out DIR] [--threads N]
          Trains the two bundled default models (ETTh1 from models/data, Fashion-MNIST from the Debian package
          dataset-fashion-mnist) and writes them to models/.
        """);
    return 2;
}
