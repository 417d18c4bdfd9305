using GruService.Cli;

// gruservice: command-line tools over the engine: the bundled models and the benchmarks' data preparation and scoring.
return args switch
{
    ["train-bundled", .. var rest] => BundledModels.Run(rest),
    ["benchmark-etth1", .. var rest] => EtthBenchmark.Run(rest),
    ["fashion-mnist-ndjson", .. var rest] => FashionMnistCommands.WriteNdjson(rest),
    ["score-fashion-mnist", .. var rest] => await FashionMnistCommands.ScoreAsync(rest),
    ["score-etth1", .. var rest] => await EtthScoring.RunAsync(rest),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("""
        usage: gruservice train-bundled [--data DIR] [--fashion-mnist DIR] [--out DIR] [--threads N]
          Trains the two bundled default models (ETTh1 from models/data, Fashion-MNIST from the Debian package
          dataset-fashion-mnist) and writes them to models/.
        gruservice fashion-mnist-ndjson --part train|t10k --out FILE [--fashion-mnist DIR]
          Writes Fashion-MNIST as an NDJSON dataset (28 steps of 28 pixels, label = class name).
        gruservice score-fashion-mnist --url URL --model NAME [--api-key KEY] [--batch 500]
          Test accuracy of a served classifier on the 10,000 Fashion-MNIST test images, through its classify endpoint.
        gruservice benchmark-etth1 [--threads 2] [--out FILE]
          Trains and scores the ETTh1 forecaster (lookback 96, horizon 96, standard protocol) in the engine.
        gruservice score-etth1 --url URL --model NAME [--api-key KEY]
          Test MSE and MAE of a served ETTh1 forecaster over every standard test window, through its forecast endpoint.
        The score commands send --api-key, or else $GRU_API_KEY, in X-Api-Key when either is set.
        """);
    return 2;
}
