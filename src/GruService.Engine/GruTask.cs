namespace GruService.Engine;

/// <summary>What a model's head computes from the final hidden state.</summary>
public enum GruTask
{
    /// <summary>A linear head giving horizon × output_size values, de-normalised with the target statistics.</summary>
    Forecast,

    /// <summary>A linear head followed by softmax over the classes.</summary>
    Classify,
}
